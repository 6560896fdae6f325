package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
)

// settingsStore is a Configurator on the real config logic
// (config.Settings.Apply): web cannot import the node, which imports web.
type settingsStore struct {
	mu      sync.Mutex
	s       config.Settings
	applied int
	fail    error // returned by Apply when set, as a node would on a resize failure
}

func newStore() *settingsStore { return &settingsStore{s: config.Defaults()} }

func (c *settingsStore) Settings() config.Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *settingsStore) Apply(p config.Patch) (config.Settings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.s, c.fail
	}
	next, err := c.s.Apply(p)
	if err != nil {
		return c.s, err
	}
	c.s = next
	c.applied++
	return next, nil
}

func patchForm(t *testing.T, h http.Handler, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPatch, "/ui/config", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// fieldError returns the error shown next to a field, "" when none, and
// checks that the field points at it with aria-describedby.
func fieldError(t *testing.T, html, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<p class="field-error" id="control-error-` + name + `" data-testid="control-error-` + name + `">([^<]*)</p>`).FindStringSubmatch(html)
	if m == nil {
		return ""
	}
	input := regexp.MustCompile(`<(?:input|select)[^>]*id="control-` + name + `"[^>]*>`).FindString(html)
	if !strings.Contains(input, `aria-describedby="control-hint-`+name+` control-error-`+name+`"`) || !strings.Contains(input, `aria-invalid="true"`) {
		t.Errorf("field %s has an error but its control does not point at it: %s", name, input)
	}
	// Next to the field: in the same .field block, after the control.
	ci, ei := strings.Index(html, `id="control-`+name+`"`), strings.Index(html, `id="control-error-`+name+`"`)
	if ci < 0 || ei < ci || strings.Contains(html[ci:ei], `<div class="field`) {
		t.Errorf("the error of %s is not in the field's block", name)
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

func TestConfigFormSuccess(t *testing.T) {
	c := newStore()
	h := ConfigForm(c)
	rec := patchForm(t, h, url.Values{"rate": {" 50 "}, "workers": {"8"}, "policy": {"lifo"}, "deadlineMs": {""}, "token": {"secret"}}.Encode(), nil)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	s := c.Settings()
	if s.Rate != 50 || s.Workers != 8 || s.Policy != "lifo" || s.DeadlineMs != config.Defaults().DeadlineMs {
		t.Errorf("settings after the form: %+v", s)
	}
	html := rec.Body.String()
	noInlineStyleOrScript(t, "form", html)
	for _, want := range []string{
		`data-testid="control-applied">Applied: rate 50 events/s, workers 8, policy lifo.</p>`,
		`placeholder="50"`, `placeholder="8"`, `<option value="">unchanged (lifo)</option>`,
		`hx-patch="/ui/config"`, `data-testid="control-submit"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("form after success lacks %s", want)
		}
	}
	if strings.Contains(html, `value="50"`) || strings.Contains(html, "secret") || strings.Contains(html, "aria-invalid") {
		t.Errorf("form after success keeps typed values, the token or errors:\n%s", html)
	}
}

func TestConfigFormErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		form   url.Values
		fields map[string]string // field -> part of its error
		form1  string            // part of the form-level error
	}{
		{"not a number", url.Values{"rate": {"fast"}}, map[string]string{"rate": `"fast" is not a number`}, "1 setting needs fixing"},
		{"NaN", url.Values{"rate": {"NaN"}}, map[string]string{"rate": "is not a number"}, ""},
		{"hex", url.Values{"rate": {"0x10"}}, map[string]string{"rate": "is not a number"}, ""},
		{"out of range", url.Values{"rate": {"2000000"}}, map[string]string{"rate": "want 0 (off) to 1000000 events/s, got 2000000"}, "nothing was applied"},
		{"whole number", url.Values{"workers": {"2.5"}}, map[string]string{"workers": `"2.5" is not a whole number`}, ""},
		{"huge whole number", url.Values{"queueCap": {"99999999999999999999"}}, map[string]string{"queueCap": "out of range"}, ""},
		{"bad choice", url.Values{"policy": {"random"}}, map[string]string{"policy": `"random" is not one of edf, lifo, fifo`}, ""},
		{"every error at once", url.Values{"rate": {"x"}, "workers": {"0"}, "tickMs": {"5"}, "deadlineMs": {"80"}},
			map[string]string{"rate": "not a number", "workers": "want 1 to 10000, got 0", "tickMs": "want 10 to 10000 ms"}, "3 settings need fixing"},
		{"twice", url.Values{"rate": {"1", "2"}}, map[string]string{"rate": "more than once"}, ""},
		{"nothing", url.Values{"rate": {" "}, "token": {"t"}}, nil, "nothing to change"},
		{"unknown", url.Values{"rate": {"5"}, "speed": {"9"}}, nil, `unknown setting "speed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newStore()
			rec := patchForm(t, ConfigForm(c), tc.form.Encode(), nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200 so htmx swaps the form: %s", rec.Code, rec.Body)
			}
			if c.applied != 0 || c.Settings() != config.Defaults() {
				t.Errorf("settings changed by an invalid form: %+v", c.Settings())
			}
			html := rec.Body.String()
			noInlineStyleOrScript(t, "form", html)
			for _, f := range []string{"rate", "deadlineMs", "workMs", "workDist", "processor", "arrivals", "workers", "queueCap", "policy", "tickMs"} {
				got := fieldError(t, html, f)
				want := tc.fields[f]
				switch {
				case want == "" && got != "":
					t.Errorf("field %s shows an error %q", f, got)
				case want != "" && !strings.Contains(got, want):
					t.Errorf("field %s shows %q, want it to say %q", f, got, want)
				}
			}
			top := regexp.MustCompile(`(?s)<p class="form-error" role="alert" data-testid="control-error">(.*?)</p>`).FindStringSubmatch(html)
			if top == nil {
				t.Fatalf("no form-level alert:\n%s", html)
			}
			if !strings.Contains(htmlUnescape(top[1]), tc.form1) {
				t.Errorf("form alert %q, want it to say %q", top[1], tc.form1)
			}
			// What was typed is shown again, nothing lost.
			for f, vs := range tc.form {
				if f == "token" || f == "speed" || f == "policy" || strings.TrimSpace(vs[0]) == "" { // a select cannot show a value that is no option
					continue
				}
				v := strings.TrimSpace(vs[len(vs)-1])
				if !strings.Contains(html, `value="`+v+`"`) {
					t.Errorf("field %s does not keep the typed %q", f, v)
				}
			}
		})
	}
}

func TestConfigFormApplyFailure(t *testing.T) {
	c := newStore()
	c.fail = errors.New("workers: pool is shutting down")
	rec := patchForm(t, ConfigForm(c), "workers=8", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "workers: pool is shutting down") {
		t.Errorf("status %d, body lacks the node's error:\n%s", rec.Code, rec.Body)
	}
	c.fail = errors.Join(&config.FieldError{Field: "workers", Msg: "too many"})
	if html := patchForm(t, ConfigForm(c), "workers=8", nil).Body.String(); fieldError(t, html, "workers") != "too many" {
		t.Errorf("a field error from Apply is not next to its field:\n%s", html)
	}
}

func TestConfigFormRefusals(t *testing.T) {
	c := newStore()
	h := ConfigForm(c)
	req := httptest.NewRequest(http.MethodPatch, "/ui/config", strings.NewReader(`{"rate":5}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: status %d, want 415", rec.Code)
	}
	for name, hdr := range map[string]map[string]string{
		"cross-site fetch":     {"Sec-Fetch-Site": "cross-site"},
		"other origin, no sec": {"Origin": "https://evil.example"},
	} {
		if rec := patchForm(t, h, "rate=5", hdr); rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, rec.Code)
		}
	}
	if rec := patchForm(t, h, "rate=5", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}); rec.Code != http.StatusOK {
		t.Errorf("same-origin: status %d, want 200", rec.Code)
	}
	if c.applied != 1 {
		t.Errorf("applied %d times, want once (the same-origin request)", c.applied)
	}
	big := "rate=" + strings.Repeat("1", config.MaxPatchBytes)
	if rec := patchForm(t, h, big, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("oversized form: status %d, want 400", rec.Code)
	}
}
