// Package e2e holds end-to-end tests that drive ontime in a real headless Chromium.
package e2e
