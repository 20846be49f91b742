package versions

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	cfgpb "github.com/wamuir/graft/tensorflow/serving/config_go_proto"
	"google.golang.org/protobuf/encoding/prototext"
)

// ErrModelConfig: a model config file that cannot be served.
var ErrModelConfig = errors.New("bad model config")

// ModelConfig is one served model: its name in the paths, its base directory and which
// of its versions to load (TensorFlow Serving's ModelConfig).
type ModelConfig struct {
	Name     string
	BasePath string
	Policy   Policy
}

// Policy is TensorFlow Serving's model_version_policy: the Latest N versions
// (the zero value: the latest one), the Specific versions listed, or All.
type Policy struct {
	Latest   int
	Specific []int64
	All      bool
}

func (p Policy) String() string {
	switch {
	case p.All:
		return "all"
	case len(p.Specific) > 0:
		s := make([]string, len(p.Specific))
		for i, v := range p.Specific {
			s[i] = strconv.FormatInt(v, 10)
		}
		return "specific " + strings.Join(s, ",")
	}
	return fmt.Sprintf("latest %d", max(p.Latest, 1))
}

// pick returns the versions of cands (oldest first) the policy names.
func (p Policy) pick(cands []candidate) []candidate {
	switch {
	case p.All:
		return cands
	case len(p.Specific) > 0:
		var out []candidate
		for _, c := range cands {
			if slices.Contains(p.Specific, c.n) {
				out = append(out, c)
			}
		}
		return out
	}
	return cands[max(0, len(cands)-max(p.Latest, 1)):]
}

// ReadModelConfig reads TensorFlow Serving's --model_config_file, the text format of
// ModelServerConfig with a model_config_list:
//
//	model_config_list {
//	  config { name: "two" base_path: "/models/two" model_platform: "tensorflow"
//	           model_version_policy { latest { num_versions: 2 } } }
//	  config { name: "three" base_path: "/models/three"
//	           model_version_policy { specific { versions: 1 versions: 3 } } }
//	}
//
// Errors match ErrModelConfig and name the file and the model.
func ReadModelConfig(path string) ([]ModelConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModelConfig, err)
	}
	var msc cfgpb.ModelServerConfig
	if err := prototext.Unmarshal(b, &msc); err != nil {
		return nil, fmt.Errorf("%w: %s is not a ModelServerConfig in text format: %v", ErrModelConfig, path, err)
	}
	list := msc.GetModelConfigList()
	if list == nil || len(list.GetConfig()) == 0 {
		return nil, fmt.Errorf("%w: %s has no model_config_list { config { ... } }", ErrModelConfig, path)
	}
	var out []ModelConfig
	for i, c := range list.GetConfig() {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: %s, config %d (%q): %s", ErrModelConfig, path, i+1, c.GetName(), fmt.Sprintf(format, a...))
		}
		switch {
		case c.GetName() == "" || strings.ContainsAny(c.GetName(), "/:"):
			return nil, bad("name must be set, without / or :")
		case c.GetBasePath() == "":
			return nil, bad("base_path must be set")
		case c.GetModelPlatform() != "" && c.GetModelPlatform() != "tensorflow":
			return nil, bad("model_platform %q: xray serves tensorflow SavedModels", c.GetModelPlatform())
		case slices.ContainsFunc(out, func(m ModelConfig) bool { return m.Name == c.GetName() }):
			return nil, bad("a second model of that name")
		case len(c.GetVersionLabels()) > 0:
			return nil, bad("version_labels are not supported: name versions by number")
		}
		mc := ModelConfig{Name: c.GetName(), BasePath: c.GetBasePath()}
		pol := c.GetModelVersionPolicy()
		switch {
		case pol.GetAll() != nil:
			mc.Policy.All = true
		case pol.GetSpecific() != nil:
			if len(pol.GetSpecific().GetVersions()) == 0 {
				return nil, bad("specific { } lists no versions")
			}
			mc.Policy.Specific = pol.GetSpecific().GetVersions()
		case pol.GetLatest() != nil:
			mc.Policy.Latest = int(max(pol.GetLatest().GetNumVersions(), 1))
		}
		out = append(out, mc)
	}
	return out, nil
}
