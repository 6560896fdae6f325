package config

// Flatten lists the errors joined in err (by errors.Join, at any depth), in
// order: each problem with the settings on its own, so that the flags and
// PATCH /api/config can report every one, each under its field. It
// returns nil for nil, and err alone when nothing is joined in it.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Flatten(e)...)
	}
	return out
}
