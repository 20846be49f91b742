// Package pacs reads chest X-rays from a PACS over DICOMweb and stores the model's results
// back into the same studies as DICOM, where radiologists read them.
//
// Contract. One Run is one pass: QIDO-RS finds the studies holding images of the
// modalities (CR, DX) in the date range; each study's instances are listed once; an image
// of the body part (CHEST) whose SR for this model is not in the study yet is retrieved
// (WADO-RS through package dicomweb, at most dicomweb.Options.MaxInstanceBytes: larger
// ones are refused before they are read whole), predicted and explained by a
// savedmodels.Model (preprocess reads the DICOM bytes), and two instances are stored with
// STOW-RS:
//
//   - a Secondary Capture (1.2.840.10008.5.1.4.1.1.7) of the Grad-CAM figure (package
//     explain), ImageType DERIVED\SECONDARY, BurnedInAnnotation YES;
//   - a Comprehensive SR (1.2.840.10008.5.1.4.1.1.88.33): the device observer and
//     algorithm (name, version, SavedModel digest), each class as a finding (SNOMED CT
//     233604007 Pneumonia, 17621005 Normal, ...) with its probability and the source
//     image, the decided class as the impression with the threshold that decided it.
//
// Both copy the source's Patient and General Study modules, each is in a new series of
// its own. Their Series and SOP Instance UIDs are derived (2.25 + a name-based UUID) from
// the source image's UIDs and the model's digest, so whether an image is done is read from
// the PACS itself (is our SR's UID among the study's instances?), two runs on two machines
// store the same instances rather than doubles, and a run killed at any point is resumed
// by running again. The overlay goes first in the STOW request: the SR, which marks the
// image done, never lands without it.
//
// Throughput. A pass is a pipeline (pipeline.go): Config.Concurrency workers retrieve
// images a series at a time (one WADO-RS request for a series whose images are all to
// do: a PACS answers that far more cheaply than a request per instance), the model runs
// batches of up to 32 of the images waiting, as xray predict and xray explain do, and
// Concurrency workers store the results of a batch in one STOW-RS request. If the PACS
// refuses a series or a batch, its images are retrieved or stored one by one, so every
// error is an image's own. Memory is bounded by the channels between the stages: a few
// batches of images, whatever the PACS holds.
//
// Failures: an image that cannot be retrieved, decoded or stored is an Event with its
// error, and the pass goes on; 5xx answers, timeouts and refused connections are retried
// with exponential backoff (dicomweb.Options.Retries); a PACS that stays unreachable
// (dicomweb.ErrUnavailable) or refuses the credentials (dicomweb.ErrUnauthorized: 401,
// 403) ends the pass with that error. Events, errors and logs name SOP Instance UIDs, never a patient
// attribute. docs/pacs.md has the SR's content tree and the Orthanc set-up.
//
// Usage:
//
//	client, err := dicomweb.NewClient("http://localhost:8042/dicom-web", dicomweb.Options{User: "ai", Password: pw})
//	info, err := pacs.ModelInfoOf(model) // a loaded *savedmodels.Model
//	sum, err := pacs.Run(ctx, pacs.Config{Client: client, Model: model, Info: info,
//		Alpha: explain.DefaultAlpha, Emit: func(e pacs.Event) { ... }})
//	if errors.Is(err, dicomweb.ErrUnauthorized) { ... }
//
// Watch repeats Run every interval (xray pacs --watch), passing over studies whose
// instance count has not changed since a pass found nothing to do in them.
package pacs
