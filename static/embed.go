// Package static embeds the page's assets: the stylesheet and the vendored
// htmx files (pinned versions, no CDN).
package static

import "embed"

// FS holds style.css, favicon.svg and vendor/.
//
//go:embed style.css favicon.svg vendor
var FS embed.FS
