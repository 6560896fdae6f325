// Package frontend embeds the built React dashboard (dist/app, made by
// `npm run build`). Before the first build only a placeholder is embedded,
// and the server explains how to build the dashboard.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// App returns the built dashboard, rooted at its index.html, and whether it
// has been built.
func App() (fs.FS, bool) {
	app, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(app, "index.html"); err != nil {
		return nil, false
	}
	return app, true
}
