// Package dicomweb is a DICOMweb client (PS3.18): QIDO-RS searches for studies and their
// instances, WADO-RS retrieval of one instance or of a whole series, STOW-RS storage. It
// speaks HTTP and the DICOM JSON model only: it parses no DICOM files and knows no model.
//
// Contract. A Client is safe for concurrent use and keeps a connection per worker to
// one PACS. Requests failing with 5xx, 429, a timeout or a refused connection are retried
// Options.Retries times with exponential backoff and jitter, then fail with
// ErrUnavailable; 401 and 403 fail at once with ErrUnauthorized. Retrieved instances are
// bounded by Options.MaxInstanceBytes: one announced larger is refused from its
// Content-Length, one streamed larger once that many bytes have arrived (ErrTooLarge),
// so memory stays bounded whatever the PACS sends. RetrieveSeries streams a series part
// by part and is not retried: a caller retrieves what it did not deliver one instance at
// a time. Store fails with ErrStoreRefused when the PACS lists a failed instance. Errors
// name request paths (UIDs), never a patient attribute.
//
// Usage:
//
//	c, err := dicomweb.NewClient("http://localhost:8042/dicom-web", dicomweb.Options{User: "ai", Password: pw})
//	studies, err := c.Studies(ctx, dicomweb.StudyQuery{Modality: "DX"})
//	instances, err := c.Instances(ctx, studies[0].UID)
//	err = c.RetrieveSeries(ctx, in.Study, in.Series, func(file []byte) error { ...; return nil })
//	err = c.Store(ctx, in.Study, srFile)
package dicomweb
