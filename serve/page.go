package serve

import (
	"embed"
	"net/http"
)

// pageFS holds the web page; it is compiled into the binary (no CDN, no build step).
//
//go:embed static
var pageFS embed.FS

// page serves the web page at /.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	http.ServeFileFS(w, r, pageFS, "static/index.html")
}
