// Package static embeds the page's assets: the stylesheet, app.js and the vendored
// htmx files (pinned versions, no CDN).
package static

import "embed"

// FS holds style.css, favicon.svg, app.js and vendor/.
//
//go:embed style.css favicon.svg app.js vendor
var FS embed.FS
