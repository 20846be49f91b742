module github.com/xraylab/xray/examples/service

go 1.26.0

require github.com/xraylab/xray v0.0.0-00010101000000-000000000000

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/suyashkumar/dicom v1.0.7 // indirect
	github.com/wamuir/graft v0.10.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Inside the repository: use this checkout. A service elsewhere drops this line and
// requires a released version of github.com/xraylab/xray instead.
replace github.com/xraylab/xray => ../..
