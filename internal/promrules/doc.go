// Package promrules holds no code: its tests check the Prometheus rules that
// ship in docs/prometheus with promtool, and against a real Prometheus
// server scraping a running node.
package promrules
