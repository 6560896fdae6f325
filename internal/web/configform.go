package web

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/views"
)

// Configurator reads and changes the live settings; *node.Node implements
// it (as it does server.Configurator).
type Configurator interface {
	Settings() config.Settings
	Apply(p config.Patch) (config.Settings, error)
}

// tokenField is the form field the write guard reads a token from; the
// form carries it but it is no setting.
const tokenField = "token"

// clusterField is set ("1") by a form rendered for a node of a cluster, so
// that the form comes back the same (per-node labels, no tick). It only
// changes what the form shows: the server refuses the tick in a cluster
// whatever the form says.
const clusterField = "cluster"

// ConfigForm handles the page's settings form, sent by htmx as
// application/x-www-form-urlencoded (PATCH /ui/config). Each non-empty
// field becomes part of one config.Patch, applied as a whole or not at all.
// The answer is always the controls form re-rendered with status 200 so
// that htmx swaps it without extra configuration (htmx 2 does not swap 4xx
// answers by default): after a success with the new settings and what
// changed; after a failure with what was typed and every error next to its
// field (aria-invalid, aria-describedby). Only a request that is no form
// submission (wrong media type, unreadable body) gets a 4xx, as plain text.
//
// Cross-origin requests are refused with 403 (net/http's
// CrossOriginProtection: Sec-Fetch-Site, else Origin against Host), so no
// other site can change the settings through a visitor's browser, whatever
// authentication is added later.
func ConfigForm(c Configurator) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			http.Error(w, "send the form as application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
			return
		}
		if r.PostForm == nil { // the write guard may have parsed it already
			r.Body = http.MaxBytesReader(w, r.Body, config.MaxPatchBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "unreadable form: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		form := submit(c, r.PostForm)
		var buf bytes.Buffer
		if err := views.Controls(form).Render(r.Context(), &buf); err != nil {
			http.Error(w, "render form: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	}))
}

// submit parses the form, applies it, and says what the form shows next.
func submit(c Configurator, values map[string][]string) views.ControlsForm {
	cluster := len(values[clusterField]) > 0 && values[clusterField][0] == "1"
	form := submitForm(c, values)
	form.Cluster = cluster
	return form
}

func submitForm(c Configurator, values map[string][]string) views.ControlsForm {
	form := views.ControlsForm{Values: map[string]string{}, Errors: map[string]string{}}
	known := map[string]bool{tokenField: true, clusterField: true}
	for _, f := range views.Fields {
		known[f.Name] = true
	}
	var unknown []string
	for k := range values {
		if !known[k] {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		form.Error = "unknown setting " + strings.Join(unknown, ", ")
	}
	p, set := parseForm(values, form)
	current := c.Settings()
	if form.Error == "" && len(form.Errors) == 0 && len(set) == 0 {
		form.Error = "nothing to change: fill in at least one setting"
	}
	if form.Error != "" || len(form.Errors) > 0 {
		// Check the fields that did parse against the settings in force,
		// without applying anything, so every error shows at once.
		if _, err := current.Apply(p); err != nil {
			addErrors(&form, err)
		}
		form.Current = &current
		return form
	}
	s, err := c.Apply(p)
	if err != nil {
		addErrors(&form, err)
		if len(form.Errors) == 0 && form.Error == "" {
			form.Error = err.Error()
		}
		form.Current = &s
		return form
	}
	applied := make([]string, 0, len(set))
	for _, f := range views.Fields {
		if set[f.Name] {
			v := views.SettingValue(&s, f.Name)
			if f.Unit != "" {
				v += " " + f.Unit
			}
			applied = append(applied, strings.ToLower(f.Label)+" "+v)
		}
	}
	return views.ControlsForm{Current: &s, Applied: "Applied: " + strings.Join(applied, ", ") + "."}
}

// parseForm turns the non-empty fields into a patch, noting each field
// that does not parse in form.Errors (and each non-empty one in
// form.Values, to show it again).
func parseForm(values map[string][]string, form views.ControlsForm) (config.Patch, map[string]bool) {
	var p config.Patch
	set := map[string]bool{}
	for _, f := range views.Fields {
		vs := values[f.Name]
		if len(vs) == 0 {
			continue
		}
		v := strings.TrimSpace(vs[len(vs)-1])
		if v == "" {
			continue
		}
		form.Values[f.Name] = v
		if len(vs) > 1 {
			form.Errors[f.Name] = "given more than once"
			continue
		}
		if err := setField(&p, f, v); err != nil {
			form.Errors[f.Name] = err.Error()
			continue
		}
		set[f.Name] = true
	}
	return p, set
}

// setField parses the form's text for f into the patch.
func setField(p *config.Patch, f views.Field, v string) error {
	var value any = v
	switch f.Kind {
	case views.Decimal:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || strings.ContainsAny(v, "xXpP_") {
			return fmt.Errorf("%q is not a number: write it like 20 or 12.5", v)
		}
		value = x
	case views.Whole:
		n, err := strconv.Atoi(v)
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is out of range", v)
		}
		if err != nil {
			return fmt.Errorf("%q is not a whole number: write it like 8", v)
		}
		value = n
	}
	var fe *config.FieldError
	if err := p.Set(f.Name, value); errors.As(err, &fe) {
		return errors.New(fe.Msg)
	} else if err != nil {
		return err
	}
	return nil
}

// addErrors puts each *config.FieldError of err next to its field (a
// parse error already there wins) and any other error on the form.
func addErrors(form *views.ControlsForm, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var other []string
	for _, e := range errs {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			if _, taken := form.Errors[fe.Field]; !taken {
				form.Errors[fe.Field] = fe.Msg
			}
			continue
		}
		other = append(other, e.Error())
	}
	if len(other) > 0 && form.Error == "" {
		form.Error = strings.Join(other, "; ")
	}
}
