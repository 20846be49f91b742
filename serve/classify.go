package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
	"github.com/xraylab/xray/serve/versions"
)

// classification is /v1/classify's answer for one image.
type classification struct {
	Class         string             `json:"class"`       // by argmax
	ClassID       int                `json:"class_id"`    // by argmax
	Probability   float32            `json:"probability"` // of Class
	Probabilities map[string]float32 `json:"probabilities"`
	Decision      decisionOut        `json:"decision"` // by the model's operating threshold
	Model         modelInfo          `json:"model"`
	// With ?explain=1: the Grad-CAM heatmap of Class over the X-ray as the model saw it
	// (explain.Overlay), a base64 PNG, and the class it explains.
	Overlay   string `json:"overlay,omitempty"`
	Explained string `json:"explained,omitempty"`
	// With ?image=1 and a DICOM file: the X-ray as the model sees it (decoded, windowed,
	// resized to the input size), a base64 grayscale PNG, as browsers cannot show DICOM.
	Image string `json:"image,omitempty"`
}

type decisionOut struct {
	Class   string `json:"class"`
	ClassID int    `json:"class_id"`
	Rule    string `json:"rule"` // "argmax" or e.g. "youden at 0.4125"
}

type modelInfo struct {
	Name     string               `json:"name"`
	Version  string               `json:"version"`
	Metadata savedmodels.Metadata `json:"metadata"`
	Explain  bool                 `json:"explain"` // the version can draw Grad-CAM overlays (?explain=1)
}

func (s *Server) modelInfo(v *versions.Version) modelInfo {
	_, gradcam := v.Sigs[savedmodels.SignatureGradCAM]
	return modelInfo{Name: s.cfg.Name, Version: strconv.FormatInt(v.N, 10), Metadata: v.Meta, Explain: gradcam}
}

// classify answers POST /v1/classify: one JPEG, PNG or DICOM file as the body, or as the first
// file of a multipart form.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) error {
	b, err := s.imageBody(r)
	if err != nil {
		return err
	}
	if err := s.checkImage("image", b); err != nil {
		return err
	}
	v, release, err := s.resolve(protocol.ModelPath{Name: s.cfg.Name})
	if err != nil {
		return err
	}
	defer release()
	s.metrics.images.Observe(1)
	q := r.URL.Query()
	var p savedmodels.Prediction
	var overlay, explained, picture string
	if q.Get("explain") == "1" || q.Get("image") == "1" && dicom.Is(b) {
		p, overlay, explained, picture, err = s.decoded(r.Context(), v, b, q.Get("explain") == "1", q.Get("image") == "1")
	} else {
		var preds []savedmodels.Prediction
		if preds, err = v.Model.PredictBytes(r.Context(), b); err == nil {
			p = preds[0]
		}
	}
	if err != nil {
		return err
	}
	if p.Err != nil {
		return badRequest("image: %v", p.Err)
	}
	out := classification{Overlay: overlay, Explained: explained, Image: picture, Class: v.Meta.Classes[p.Class], ClassID: p.Class, Probability: p.Probabilities[p.Class],
		Probabilities: map[string]float32{}, Model: s.modelInfo(v),
		Decision: decisionOut{Class: v.Meta.Classes[p.Decision], ClassID: p.Decision, Rule: "argmax"}}
	for i, q := range p.Probabilities {
		out.Probabilities[v.Meta.Classes[i]] = q
	}
	if t := v.Meta.Threshold; t != nil {
		out.Decision.Rule = t.String()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// imageBody is the raw body, or the field "file" of a multipart/form-data body (as
// curl -F file=@scan.jpeg and the page send it). Other fields are read and dropped; a
// second file is refused rather than silently ignored.
func (s *Server) imageBody(r *http.Request) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return s.readBody(r.Body)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("multipart body: %v", err)
	}
	var file []byte
	var others []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.multipartError(err)
		}
		name := part.FormName()
		switch {
		case name == "file" && file != nil:
			return nil, badRequest("multipart body has more than one \"file\": send one image per request (:predict takes up to %d)", s.cfg.MaxInstances)
		case name == "file":
			if file, err = s.readBody(part); err != nil {
				return nil, err
			}
			if file == nil {
				file = []byte{}
			}
		case part.FileName() != "":
			return nil, badRequest("multipart field %q holds a file (%s): send the image as the field \"file\", alone", name, part.FileName())
		default:
			others = append(others, fmt.Sprintf("%q", name))
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, s.bodyError(err)
			}
		}
	}
	if file == nil {
		fields := "none"
		if len(others) > 0 {
			fields = strings.Join(others, ", ")
		}
		return nil, badRequest("multipart body has no field \"file\" (fields: %s): send the image as -F file=@scan.jpeg", fields)
	}
	return file, nil
}

// multipartError maps a broken multipart stream: a body limit or timeout as bodyError,
// anything else 400.
func (s *Server) multipartError(err error) error {
	if e := s.bodyError(err); e != nil {
		var ae *Error
		if errors.As(e, &ae) && ae.Status != http.StatusBadRequest {
			return e
		}
	}
	return badRequest("multipart body: %v", err)
}

// info answers GET /v1/xray: the serving version and its metadata (for the page).
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	v, release, err := s.resolve(protocol.ModelPath{Name: s.cfg.Name})
	if err != nil {
		return err
	}
	defer release()
	writeJSON(w, http.StatusOK, s.modelInfo(v))
	return nil
}

// decoded predicts one image file decoded here, for what needs the decoded image: the
// Grad-CAM overlay (withOverlay) and, for a DICOM file (withImage), the picture the model
// sees; both as base64 PNGs. Predict on the decoded image gives PredictBytes's result
// (Preprocessor.Pixels is bit-identical to EncodedPixels).
func (s *Server) decoded(ctx context.Context, v *versions.Version, file []byte, withOverlay, withImage bool) (p savedmodels.Prediction, overlay, class, picture string, err error) {
	pre := v.Model.Preprocessor()
	img, err := pre.Decode(file)
	if err != nil {
		return p, "", "", "", badRequest("image: %v", err)
	}
	if withImage && dicom.Is(file) {
		if picture, err = modelPicture(pre, img); err != nil {
			return p, "", "", "", err
		}
	}
	if withOverlay {
		p, overlay, class, err = s.explain(ctx, v, img)
		return p, overlay, class, picture, err
	}
	preds, err := v.Model.Predict(ctx, img)
	if err != nil {
		return p, "", "", "", err
	}
	return preds[0], "", "", picture, nil
}

// modelPicture is img as the model sees it: resized to the input size by the shared
// preprocessing, one gray channel (a DICOM image is gray; the model gets it three times),
// as a base64 PNG.
func modelPicture(pre preprocess.Preprocessor, img image.Image) (string, error) {
	rgb, err := pre.Pixels(img)
	if err != nil {
		return "", badRequest("image: %v", err)
	}
	g := image.NewGray(image.Rect(0, 0, pre.Size, pre.Size))
	for i := range g.Pix {
		g.Pix[i] = rgb[3*i]
	}
	return pngBase64(g)
}

func pngBase64(img image.Image) (string, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// explain predicts one decoded image with its Grad-CAM overlay, as a base64 PNG.
func (s *Server) explain(ctx context.Context, v *versions.Version, img image.Image) (p savedmodels.Prediction, overlay, class string, err error) {
	ex, err := v.Model.Explain(ctx, img)
	if errors.Is(err, savedmodels.ErrNoGradCAM) {
		return p, "", "", errorf(http.StatusNotImplemented, "explain=1: model version %d cannot draw Grad-CAM overlays (%v); classify without explain", v.N, err)
	}
	if err != nil {
		return p, "", "", err
	}
	e := ex[0]
	if e.Err != nil {
		return e.Prediction, "", "", nil
	}
	ov, err := explain.Overlay(img, e.Heatmap, e.Size, explain.DefaultAlpha)
	if err != nil {
		return p, "", "", err
	}
	overlay, err = pngBase64(ov)
	if err != nil {
		return p, "", "", err
	}
	return e.Prediction, overlay, v.Meta.Classes[e.Explained], nil
}
