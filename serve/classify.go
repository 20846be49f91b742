package serve

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/xraylab/xray/savedmodels"
)

// classification is /v1/classify's answer for one image.
type classification struct {
	Class         string             `json:"class"`       // by argmax
	ClassID       int                `json:"class_id"`    // by argmax
	Probability   float32            `json:"probability"` // of Class
	Probabilities map[string]float32 `json:"probabilities"`
	Decision      decisionOut        `json:"decision"` // by the model's operating threshold
	Model         modelInfo          `json:"model"`
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
}

func (s *Server) modelInfo(v *version) modelInfo {
	return modelInfo{Name: s.cfg.Name, Version: strconv.FormatInt(v.n, 10), Metadata: v.meta}
}

// classify answers POST /v1/classify: one JPEG or PNG file as the body, or as the first
// file of a multipart form.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("explain") == "1" {
		return errorf(http.StatusNotImplemented, "explain=1: Grad-CAM overlays are not in this build yet; classify without explain")
	}
	b, err := s.imageBody(r)
	if err != nil {
		return err
	}
	if err := s.checkImage("image", b); err != nil {
		return err
	}
	v, release, err := s.resolve(modelPath{name: s.cfg.Name})
	if err != nil {
		return err
	}
	defer release()
	s.metrics.images.Observe(1)
	preds, err := v.model.PredictBytes(r.Context(), b)
	if err != nil {
		return err
	}
	p := preds[0]
	if p.Err != nil {
		return badRequest("image: %v", p.Err)
	}
	out := classification{Class: v.meta.Classes[p.Class], ClassID: p.Class, Probability: p.Probabilities[p.Class],
		Probabilities: map[string]float32{}, Model: s.modelInfo(v),
		Decision: decisionOut{Class: v.meta.Classes[p.Decision], ClassID: p.Decision, Rule: "argmax"}}
	for i, q := range p.Probabilities {
		out.Probabilities[v.meta.Classes[i]] = q
	}
	if t := v.meta.Threshold; t != nil {
		out.Decision.Rule = t.String()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// imageBody is the raw body, or the first file of a multipart/form-data body.
func (s *Server) imageBody(r *http.Request) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return s.readBody(r.Body)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, badRequest("multipart body has no file: send the image as a file field")
		}
		if err != nil {
			if e := s.bodyError(err); e != nil {
				return nil, e
			}
		}
		if part.FileName() != "" {
			return s.readBody(part)
		}
	}
}

// info answers GET /v1/xray: the serving version and its metadata (for the page).
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	v, release, err := s.resolve(modelPath{name: s.cfg.Name})
	if err != nil {
		return err
	}
	defer release()
	writeJSON(w, http.StatusOK, s.modelInfo(v))
	return nil
}
