// Package static embeds the page's assets: the stylesheet and the vendored
// htmx files (pinned versions, no CDN).
package static

import "embed"

// FS holds style.css and vendor/.
//
//go:embed style.css vendor
var FS embed.FS
