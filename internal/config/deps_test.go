package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

// goList returns the packages pkg links (go list -deps).
func goList(t *testing.T, pkg string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test runs with the go command's bin first on PATH
	if err != nil {
		t.Fatalf("no go command to list the dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

const module = "github.com/ontime-rt/ontime/"

// The settings are a leaf: package config links no other package of
// ontime but jsonkind (the names of JSON kinds, itself linking nothing of
// ontime), so whatever reads the settings does not link what acts on them.
func TestConfigIsALeaf(t *testing.T) {
	for _, dep := range goList(t, module+"internal/config") {
		if strings.HasPrefix(dep, module) && dep != module+"internal/config" && dep != module+"internal/jsonkind" {
			t.Errorf("internal/config links %s", dep)
		}
	}
}

// The batch, the fan-out, the transports and the views show the settings
// but link neither the pipeline nor the processors and their NATS client.
func TestTransportsLinkNoPipeline(t *testing.T) {
	for _, pkg := range []string{"internal/batch", "internal/hub", "internal/sse", "internal/ws", "internal/web", "internal/stream", "views"} {
		for _, dep := range goList(t, module+pkg) {
			for _, banned := range []string{module + "internal/pipeline", module + "internal/worker", "github.com/nats-io/"} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
