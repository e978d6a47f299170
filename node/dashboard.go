package node

import (
	"crypto/subtle"
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard: a page the node serves at / that polls the node's own
// API and draws it (queries against their targets over the last 10 s,
// each query's operators coloured by how busy they are, tenants' shares,
// cluster peers). Its files are embedded: the page works with no network
// beyond the node; the chart library (uPlot) is vendored with its licence
// under dashboard/vendor.

//go:embed dashboard
var dashboardFiles embed.FS

// tokenCookie carries the API token for the dashboard's own calls: a
// browser sends no Authorization header when it opens a page.
const tokenCookie = "cameo_token"

// dashboardRoutes adds the page (GET /) and its files (GET /ui/...).
func (n *Node) dashboardRoutes(mux *http.ServeMux) {
	files, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic("node: the dashboard's files are not embedded: " + err.Error())
	}
	static := http.StripPrefix("/ui/", http.FileServerFS(files))
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// /?token=T: the token goes into a cookie the page's calls carry,
		// and out of the address bar.
		if t := r.URL.Query().Get("token"); t != "" && n.cfg.Token != "" {
			if subtle.ConstantTimeCompare([]byte(t), []byte(n.cfg.Token)) != 1 {
				writeError(w, http.StatusUnauthorized, "wrong token")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q := r.URL.Query()
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if n.cfg.Token != "" && !n.authorized(r) {
			writeError(w, http.StatusUnauthorized, "this node wants its token: open /?token=TOKEN")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	})
}
