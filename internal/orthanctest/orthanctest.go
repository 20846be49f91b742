// Package orthanctest starts a real Orthanc (Debian's orthanc, orthanc-dicomweb and
// orthanc-webviewer packages, which scripts/setup.sh installs) for tests: on a free
// loopback port, with a generated configuration, temporary storage and basic
// authentication, stopped by its PID when the test ends. Production code never imports it.
package orthanctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// User and Password are the registered user of every test Orthanc.
const (
	User     = "xray"
	Password = "pacs-test-secret"
)

// PluginDir is where Debian installs Orthanc's plugins.
const PluginDir = "/usr/share/orthanc/plugins"

// Server is a running Orthanc.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	Dir     string // its storage, index and log
	cfgPath string
	cmd     *exec.Cmd
	t       testing.TB
}

// DICOMweb is the DICOMweb base URL.
func (s *Server) DICOMweb() string { return s.URL + "/dicom-web" }

// binary finds Orthanc, skipping the test on a developer machine without it and failing
// it under CI, where scripts/setup.sh installs it.
func binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("Orthanc")
	if err == nil {
		_, err = os.Stat(filepath.Join(PluginDir, "libOrthancDicomWeb.so"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Orthanc with its DICOMweb plugin required in CI (scripts/setup.sh installs orthanc, orthanc-dicomweb): %v", err)
		}
		t.Skipf("no Orthanc with DICOMweb: %v", err)
	}
	return p
}

// Start starts Orthanc with the DICOMweb and web viewer plugins and waits until it
// answers; it is stopped (SIGTERM, then SIGKILL) when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	s := &Server{Dir: t.TempDir(), t: t}
	for try := 0; ; try++ {
		err := s.start(bin)
		if err == nil {
			break
		}
		if try == 2 {
			t.Fatalf("starting Orthanc: %v\n%s", err, s.logTail())
		}
	}
	t.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start writes the configuration for a free port and starts the process; the port can be
// taken between the check and Orthanc's bind, so Start tries again.
func (s *Server) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	plugins := []string{filepath.Join(PluginDir, "libOrthancDicomWeb.so")}
	if _, err := os.Stat(filepath.Join(PluginDir, "libOrthancWebViewer.so")); err == nil {
		plugins = append(plugins, filepath.Join(PluginDir, "libOrthancWebViewer.so"))
	}
	storage := filepath.Join(s.Dir, "storage")
	cfg := map[string]any{
		"Name": "xray-test", "StorageDirectory": storage, "IndexDirectory": storage,
		"HttpPort": port, "RemoteAccessAllowed": false, // Orthanc 1.10 has no bind address: it refuses non-loopback clients
		"AuthenticationEnabled": true, "RegisteredUsers": map[string]string{User: Password},
		"DicomServerEnabled": false, "Plugins": plugins, "HttpThreadsCount": 8,
		"DicomWeb":  map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Host": "127.0.0.1"},
		"WebViewer": map[string]any{"CachePath": filepath.Join(s.Dir, "webviewer-cache")},
	}
	b, _ := json.MarshalIndent(cfg, "", " ")
	s.cfgPath = filepath.Join(s.Dir, "orthanc.json")
	if err := os.WriteFile(s.cfgPath, b, 0o600); err != nil {
		return err
	}
	return s.launch(bin, port)
}

// launch starts Orthanc on its configuration and waits for /system.
func (s *Server) launch(bin string, port int) error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "orthanc.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(bin, "--no-jobs", s.cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait(); logf.Close() }()
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			s.cmd = nil
			return fmt.Errorf("the Orthanc process exited: %v", err)
		default:
		}
		if code, _ := s.get("/system"); code == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("no answer from Orthanc on port %d within 30 s", port)
}

// Stop ends Orthanc (SIGTERM, SIGKILL after 10 s) by its PID; a stopped server stays
// stopped. Its storage is kept for Restart.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	p := s.cmd.Process
	s.cmd = nil
	_ = p.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			if p.Signal(syscall.Signal(0)) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
	}()
	<-done
	_ = p.Kill()
}

// Restart starts Orthanc again on the same port and storage.
func (s *Server) Restart() {
	s.t.Helper()
	port, _ := strconv.Atoi(s.URL[len("http://127.0.0.1:"):])
	if err := s.launch(binary(s.t), port); err != nil {
		s.t.Fatalf("restarting Orthanc: %v\n%s", err, s.logTail())
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "orthanc.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (s *Server) get(path string) (int, []byte) {
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.SetBasicAuth(User, Password)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Upload stores DICOM files through Orthanc's REST API (POST /instances), as a modality
// would send them; it fails the test on any error.
func (s *Server) Upload(t testing.TB, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", s.URL+"/instances", bytes.NewReader(b))
		req.SetBasicAuth(User, Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("uploading %s: %v", f, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("uploading %s: HTTP %d: %s", f, resp.StatusCode, body)
		}
	}
}

// Count returns Orthanc's number of stored instances (GET /statistics).
func (s *Server) Count(t testing.TB) int {
	t.Helper()
	code, b := s.get("/statistics")
	var st struct{ CountInstances int }
	if code != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Fatalf("GET /statistics: HTTP %d: %s", code, b)
	}
	return st.CountInstances
}

// SeriesID returns Orthanc's own identifier of the series holding the instance with this
// SOP Instance UID (POST /tools/lookup, then the instance's ParentSeries): what Orthanc's
// web viewer takes.
func (s *Server) SeriesID(t testing.TB, sopInstanceUID string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/tools/lookup", bytes.NewReader([]byte(sopInstanceUID)))
	req.SetBasicAuth(User, Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var found []struct{ ID, Type string }
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil || len(found) != 1 || found[0].Type != "Instance" {
		t.Fatalf("lookup %s: %v %+v", sopInstanceUID, err, found)
	}
	code, b := s.get("/instances/" + found[0].ID)
	var inst struct{ ParentSeries string }
	if code != http.StatusOK || json.Unmarshal(b, &inst) != nil || inst.ParentSeries == "" {
		t.Fatalf("GET /instances/%s: HTTP %d: %s", found[0].ID, code, b)
	}
	return inst.ParentSeries
}
