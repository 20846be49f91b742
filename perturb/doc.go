// Package perturb imitates another scanner on a decoded X-ray: contrast, brightness,
// gamma, blur, noise, JPEG quality and lower resolution, each at three severities
// (ImageNet-C style: Hendrycks & Dietterich 2019), for the shift report (xray evaluate
// --shift). Each is a pure function of the image's pixels (and, for noise, a seed):
//
//	img, err := preprocess.Decode(b)               // upright *image.Gray or *image.NRGBA
//	p, _ := perturb.Lookup("blur", 2)              // or perturb.Standard() for all of them
//	out, err := perturb.Apply(img, p, perturb.Seed(relPath))
//
// Where: on the decoded 8-bit image, at the file's own size, after decoding (EXIF
// orientation, DICOM window) and before the model's preprocessing (resize to its input,
// scaling), so a perturbation means the same at every input size. The result has the
// input's channels (*image.Gray, or *image.NRGBA with opaque alpha); every channel is
// perturbed alike. Values are computed in float64 on 0..255 and rounded half to even
// (numpy's rint), then clipped to 0..255:
//
//	contrast c      (v - mean) * c + mean, mean over every pixel and channel
//	brightness b    v + 255 b
//	gamma g         255 (v / 255)^g
//	blur s          Gaussian of sigma s * min(w, h) / 224 (s pixels at 224 px), truncated at
//	                4 sigma, mirrored edges: scipy.ndimage.gaussian_filter(mode="reflect")
//	noise s         v + 255 s z, z one standard normal per pixel position (shared by the
//	                channels) from a counter-based SplitMix64 + Box-Muller generator seeded
//	                per image (Seed: FNV-1a of its path), so runs repeat exactly
//	jpeg q          encoded at quality q by libjpeg (TensorFlow's EncodeJpeg: 4:2:0 for
//	                colour) and decoded by TensorFlow's DecodeJpeg, as Pillow's save/open
//	resolution f    down to round(f w) x round(f h) and back up, Pillow's BILINEAR resize
//	                (its fixed-point arithmetic), as Image.resize twice
//
// Each equals its Python reference (scripts/ref/perturb_ref.py: numpy, scipy, Pillow) on
// real X-rays (perturb TestMatchesPython; docs/shift.md gives the measured differences).
package perturb
