package pacs

import (
	"math/big"
	"strings"

	"github.com/google/uuid"
)

// uidNamespace is the UUID namespace of the name-based UIDs xray derives (a fixed random
// UUID: changing it would change every result UID, and so the skip rule).
var uidNamespace = uuid.MustParse("6c0f5a36-1d2e-4c41-9d3f-8f1b2a7e55c4")

// uidFromUUID is the DICOM UID 2.25.<the UUID as one decimal integer> (PS3.5 B.2).
func uidFromUUID(u uuid.UUID) string {
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// derivedUID is a UID under 2.25 from a name-based (SHA-1, version 5) UUID of parts: the
// same parts always give the same UID. Result UIDs are derived from the source instance
// and the model, so two runs (on two machines, or after a kill) store the same instance
// rather than a second copy.
func derivedUID(parts ...string) string {
	return uidFromUUID(uuid.NewSHA1(uidNamespace, []byte(strings.Join(parts, "\x00"))))
}
