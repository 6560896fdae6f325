package node

import "github.com/ontime-rt/ontime/internal/config"

// ReloadConfig reads the configuration file again (Config.Reload) and
// applies its live settings through Apply, all or nothing: a file that
// does not load, or settings Apply refuses, change nothing, and the error
// says why with the file's line. It answers the settings in force, the
// keys of those it changed, and the keys of the settings fixed at start
// that the file changes, which take effect at the next start only. It
// logs the outcome either way (SIGHUP has no one else to tell).
func (n *Node) ReloadConfig() (config.Reload, error) {
	if n.cfg.Reload == nil {
		return config.Reload{}, config.ErrNoFile
	}
	r, err := n.cfg.Reload()
	if err == nil {
		var old, next config.Settings
		if old, next, err = n.apply(r.Settings.Patch()); err == nil {
			out := config.Reload{Settings: next, Changed: old.Changed(next), Restart: r.Restart}
			if out.Restart == nil {
				out.Restart = []string{}
			}
			n.log.Info("configuration reloaded", "changed", out.Changed)
			if len(out.Restart) > 0 {
				n.log.Warn("configuration file changes settings fixed at start: they take effect at the next start", "restart", out.Restart)
			}
			return out, nil
		}
		err = r.Explain(err)
	}
	n.log.Error("configuration reload refused: nothing changed", "err", err)
	return config.Reload{}, err
}
