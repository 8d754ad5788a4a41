package cli

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/spec"
)

// Each spec flag, given on the command line, lands in its own field of
// the spec and in no other; a flag not given leaves the file's value.
func TestEverySpecFlagReachesTheSpec(t *testing.T) {
	values := map[string]string{"*string": "given", "*int": "7", "*bool": "true", "*float64": "12.5", "*[]string": "A,B"}
	for _, f := range specFlags {
		given := spec.Defaults()
		fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
		bindSpecFlags(fs, &given)
		v := values[reflect.TypeOf(f.field(&given)).String()]
		if err := fs.Parse([]string{"--" + f.name + "=" + v}); err != nil {
			t.Fatalf("--%s=%s: %v", f.name, v, err)
		}
		fromFile := spec.Defaults()
		fromFile.Name = "from-file"
		got := fromFile
		applySpecFlags(fs, &given, &got)
		if !reflect.DeepEqual(reflect.ValueOf(f.field(&got)).Elem().Interface(), reflect.ValueOf(f.field(&given)).Elem().Interface()) {
			t.Errorf("--%s=%s did not reach its field", f.name, v)
		}
		// Only that field changed.
		reflect.ValueOf(f.field(&got)).Elem().Set(reflect.ValueOf(f.field(&fromFile)).Elem())
		if !reflect.DeepEqual(got, fromFile) {
			t.Errorf("--%s changed other fields: %+v", f.name, got)
		}
	}
	if !isSpecFlag("timeout") || isSpecFlag("yes") {
		t.Error("timeout describes the cluster, yes does not")
	}
}
