package latitude

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestServersBillAsTheProjectAllows: a reserved project takes no hourly
// servers; the create leaves the cycle to the project, as the recorded
// create in a reserved project did, and an on-demand project bills hourly.
func TestServersBillAsTheProjectAllows(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	for _, c := range []struct{ typ, want string }{{"reserved", "yearly"}, {"on_demand", "hourly"}} {
		status, out := callFake(t, f, base, http.MethodPost, "/projects",
			`{"data":{"type":"projects","attributes":{"name":"bill-`+c.typ+`","provisioning_type":"`+c.typ+`","environment":"Production"}}}`)
		if status != http.StatusCreated {
			t.Fatalf("create %s project: %v %v", c.typ, status, out)
		}
		p := providerOn(t, f, base, Config{Project: "bill-" + c.typ, ReadsPerMinute: -1, WritesPerMinute: -1})
		s, err := provider.Create(context.Background(), p, ipxeServer("bill", "bill-"+c.typ, "https://pxe.test/x"), nil)
		if err != nil {
			t.Fatalf("%s project: %v", c.typ, err)
		}
		got, err := p.Client().GetServer(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Attributes.Plan.Billing != c.want {
			t.Errorf("%s project: server billed %q, want %q", c.typ, got.Attributes.Plan.Billing, c.want)
		}
	}
}

// TestFakeBillingMatchesTheReference: the recorded create in a reserved
// project sent no billing and was billed as the recording says; the
// double bills it the same, and its rule is the OpenAPI document's.
func TestFakeBillingMatchesTheReference(t *testing.T) {
	api := loadOpenAPI(t, referenceDir(t))
	desc, _ := dig(api.resolve(api.requestSchema("/servers", "POST")), "properties", "data", "properties", "attributes", "properties", "billing", "description").(string)
	if !strings.Contains(desc, "yearly` for reserved") && !strings.Contains(desc, "yearly for reserved") {
		t.Errorf("the document's billing rule changed: %q", desc)
	}
	c := loadCassette(t, "TestAccServerBasic.yaml")
	var recorded struct{ Data resource[ServerAttrs] }
	for _, in := range c.Interactions {
		if in.Request.Method == http.MethodPost && strings.HasSuffix(in.Request.URL, "/servers") {
			if err := jsonUnmarshal(in.Response.Body, &recorded); err != nil {
				t.Fatal(err)
			}
		}
	}
	if recorded.Data.Attributes.Plan.Billing == "" {
		t.Fatal("the recording holds no server create")
	}
	f, base := serveFake(t, fake.Options{})
	post := func(path, body string) string {
		_, data := sendFake(t, f, base, http.MethodPost, path, body)
		var out struct{ Data resource[ServerAttrs] }
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		return out.Data.Attributes.Plan.Billing
	}
	post("/projects", `{"data":{"type":"projects","attributes":{"name":"rec","provisioning_type":"reserved","environment":"Development"}}}`)
	got := post("/servers", `{"data":{"type":"servers","attributes":{"project":"rec","plan":"c2-small-x86","site":"SAO","operating_system":"ubuntu_24_04_x64_lts","hostname":"testrand"}}}`)
	if got != recorded.Data.Attributes.Plan.Billing {
		t.Errorf("the double billed the recorded create %q, the API %q", got, recorded.Data.Attributes.Plan.Billing)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
