package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
	"go.yaml.in/yaml/v3"
)

// Config is the configuration of a server, usually read from YAML with
// [LoadConfig]. The zero value, after [Config.Defaults], is the loopback
// server of DESIGN.md.
type Config struct {
	// Listen lists the listeners as "network:address", e.g.
	// "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:0.0.0.0:5061".
	Listen []string `yaml:"listen"`
	// Domains are the SIP domains served; empty means the listener
	// addresses plus "localhost" (like Kamailio's "myself").
	Domains []string `yaml:"domains"`
	// Users is the path of the digest users file (see `parley passwd`).
	Users string `yaml:"users"`
	// Auth is "on" (default when Users is set or a listener is not on
	// loopback) or "off".
	Auth string `yaml:"auth"`
	// Realm is the digest realm; empty means the first domain.
	Realm string `yaml:"realm"`
	// Store is "bolt" (default), "memory" or "redis".
	Store string `yaml:"store"`
	// Data is the directory of the bolt store; default ./parley-data.
	Data string `yaml:"data"`
	// Redis is the address of the Redis server for store: redis.
	Redis string `yaml:"redis"`
	// Admin is the admin HTTP listener; default 127.0.0.1:9060, "off" to
	// disable.
	Admin string `yaml:"admin"`
	// AdminUser and AdminPassword (a hash from `parley serve
	// hash-password`) are the login of the admin pages that show users
	// (/registrations), and of /metrics for clients off loopback.
	AdminUser     string `yaml:"admin_user"`
	AdminPassword string `yaml:"admin_password"`
	// AdminTLS is the certificate and key of the admin listener; required
	// when it is not on loopback.
	AdminTLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"admin_tls"`
	// TLS names the certificate and key for tls and wss listeners.
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// Registrar settings.
	Registrar struct {
		MinExpires     time.Duration `yaml:"min_expires"`
		MaxExpires     time.Duration `yaml:"max_expires"`
		DefaultExpires time.Duration `yaml:"default_expires"`
	} `yaml:"registrar"`
	// Proxy settings.
	Proxy struct {
		// Mode is "stateful" (the default: RFC 3261 §16 with forking,
		// Timer C and best-response selection) or "stateless" (§16.11:
		// requests and responses forwarded without transactions, to one
		// target, the highest q). In stateless mode the requests digest
		// authentication applies to (INVITE, MESSAGE… from a local user,
		// and their ACK and CANCEL) are still proxied statefully, as
		// §16.11 allows.
		Mode string `yaml:"mode"`
	} `yaml:"proxy"`
	// Node names this server when several share a Redis store.
	Node string `yaml:"node"`
	// Routes are static routes, tried in order before the location
	// service: a request whose Request-URI host matches Match ("*" matches
	// every request) is sent to the next hop To (a SIP URI), keeping its
	// Request-URI (like Kamailio's $du).
	Routes []Route `yaml:"routes"`
	// Procs is how many CPUs the Go scheduler runs on (GOMAXPROCS): "auto"
	// (the default) adapts it to the load, from 1 while the load is light
	// (fewer thread wake-ups: about a third less CPU per call) up to every
	// CPU the process may use; a number fixes it. The parley serve command
	// applies it (a process-wide setting, which New leaves alone).
	Procs string `yaml:"procs"`
}

// ProcsValue reads Procs: 0 for "auto" (or unset), else the number of
// CPUs it fixes.
func (c *Config) ProcsValue() (int, error) {
	if c.Procs == "" || c.Procs == "auto" {
		return 0, nil
	}
	n, err := strconv.Atoi(c.Procs)
	if err != nil || n < 1 || n > 4096 {
		return 0, &ConfigError{Msg: fmt.Sprintf("procs: %q: want auto or a number of CPUs from 1", c.Procs)}
	}
	return n, nil
}

// Route is one static route.
type Route struct {
	Match string `yaml:"match"`
	To    string `yaml:"to"`
}

// Listener is one parsed listen entry.
type Listener struct {
	Network transport.Network
	Addr    string // host:port
}

// ConfigError is a configuration error with the line it was found on.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

// Error returns "server: FILE:LINE: message" (without the parts not
// known).
func (e *ConfigError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("server: %s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("server: %s: %s", e.File, e.Msg)
	}
	return "server: " + e.Msg
}

// LoadConfig reads and validates a YAML configuration file. Unknown keys
// are errors, reported with their line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a YAML configuration.
func ParseConfig(name string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = name
			ce.Line = lineOf(&root, ce.Msg)
		}
		return nil, err
	}
	return &c, nil
}

// yamlError turns a yaml error ("yaml: line 3: ...") into a ConfigError.
func yamlError(name string, err error) error {
	msg := err.Error()
	line := 0
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i:], "line %d", &line)
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if j := strings.Index(msg, ": "); j >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[j+2:]
	}
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	return &ConfigError{File: name, Line: line, Msg: msg}
}

// lineOf finds the line of the key a validation message names (the first
// word before ':'), for line-precise errors.
func lineOf(root *yaml.Node, msg string) int {
	key, _, ok := strings.Cut(msg, ":")
	if !ok || root == nil || len(root.Content) == 0 {
		return 0
	}
	var find func(n *yaml.Node) int
	find = func(n *yaml.Node) int {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					return n.Content[i].Line
				}
				if l := find(n.Content[i+1]); l > 0 {
					return l
				}
			}
		}
		for _, c := range n.Content {
			if n.Kind != yaml.MappingNode {
				if l := find(c); l > 0 {
					return l
				}
			}
		}
		return 0
	}
	return find(root.Content[0])
}

// Listeners parses the listen entries.
func (c *Config) Listeners() ([]Listener, error) {
	var out []Listener
	for _, l := range c.Listen {
		netw, addr, ok := strings.Cut(l, ":")
		if !ok {
			return nil, &ConfigError{Msg: fmt.Sprintf("listen: %q: want network:address, e.g. udp:127.0.0.1:5060", l)}
		}
		n, err := transport.ParseNetwork(netw)
		if err != nil || n == transport.SCTP {
			return nil, &ConfigError{Msg: fmt.Sprintf("listen: %q: unknown network %q (udp, tcp, tls, ws, wss)", l, netw)}
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("listen: %q: %v", l, err)}
		}
		out = append(out, Listener{Network: n, Addr: addr})
	}
	return out, nil
}

// Loopback reports whether every listener is on a loopback address.
func (c *Config) Loopback() bool {
	ls, err := c.Listeners()
	if err != nil {
		return false
	}
	for _, l := range ls {
		host, _, _ := net.SplitHostPort(l.Addr)
		if host == "localhost" {
			continue
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.IsLoopback() {
			return false
		}
	}
	return true
}

// Defaults fills what the configuration leaves unset: the loopback
// listeners (UDP and TCP on 127.0.0.1:5060), the bolt store in
// ./parley-data, the admin listener on 127.0.0.1:9060, and the domains.
func (c *Config) Defaults() {
	if len(c.Listen) == 0 {
		c.Listen = []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}
	}
	if c.Store == "" {
		c.Store = "bolt"
	}
	if c.Procs == "" {
		c.Procs = "auto"
	}
	if c.Data == "" {
		c.Data = "parley-data"
	}
	if c.Admin == "" {
		c.Admin = "127.0.0.1:9060"
	}
	if len(c.Domains) == 0 {
		seen := map[string]bool{"localhost": true}
		c.Domains = []string{"localhost"}
		ls, _ := c.Listeners()
		for _, l := range ls {
			host, _, _ := net.SplitHostPort(l.Addr)
			if !seen[host] {
				seen[host] = true
				c.Domains = append(c.Domains, host)
			}
		}
	}
	if c.Realm == "" && len(c.Domains) > 0 {
		c.Realm = c.Domains[0]
		if c.Realm == "localhost" && len(c.Domains) > 1 {
			c.Realm = c.Domains[1]
		}
	}
}

// AuthOn reports whether digest authentication is enforced.
func (c *Config) AuthOn() bool {
	switch c.Auth {
	case "off":
		return false
	case "on":
		return true
	}
	return c.Users != "" || !c.Loopback()
}

// Validate checks the configuration: listeners parse, the store is known,
// and a server reachable from off the machine is not left open: any
// non-loopback listener requires a users file unless auth is "off".
func (c *Config) Validate() error {
	if _, err := c.Listeners(); err != nil {
		return err
	}
	for _, r := range c.Routes {
		if r.Match == "" {
			return &ConfigError{Msg: "routes: a route needs match (a domain, or *)"}
		}
		u, err := sip.ParseURI(r.To)
		if err != nil || !u.IsSIP() {
			return &ConfigError{Msg: fmt.Sprintf("routes: to %q is not a SIP URI", r.To)}
		}
		if _, err := netip.ParseAddr(u.Host); err != nil {
			return &ConfigError{Msg: fmt.Sprintf("routes: to %q: the next hop must be an IP address for now", r.To)}
		}
	}
	switch c.Store {
	case "", "bolt", "memory":
	case "redis":
		if c.Redis == "" {
			return &ConfigError{Msg: "store: store redis needs the redis address (redis: 127.0.0.1:6379)"}
		}
	default:
		return &ConfigError{Msg: fmt.Sprintf("store: unknown store %q (bolt, memory, redis)", c.Store)}
	}
	if c.Admin != "" && c.Admin != "off" {
		if _, _, err := net.SplitHostPort(c.Admin); err != nil {
			return &ConfigError{Msg: fmt.Sprintf("admin: %q: %v", c.Admin, err)}
		}
		if !loopbackHost(c.Admin) && (c.AdminTLS.Cert == "" || c.AdminTLS.Key == "") {
			return &ConfigError{Msg: fmt.Sprintf("admin: the admin listener %s is not on loopback: it needs admin_tls.cert and admin_tls.key (it serves logins and user data)", c.Admin)}
		}
	}
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		return &ConfigError{Msg: "admin_user: admin_user and admin_password go together"}
	}
	if c.AdminPassword != "" {
		if _, err := parseAdminHash(c.AdminPassword); err != nil {
			return &ConfigError{Msg: err.Error()}
		}
	}
	switch c.Proxy.Mode {
	case "", "stateful", "stateless":
	default:
		return &ConfigError{Msg: fmt.Sprintf("mode: proxy mode %q: want stateful or stateless", c.Proxy.Mode)}
	}
	if _, err := c.ProcsValue(); err != nil {
		return err
	}
	switch c.Auth {
	case "", "on", "off":
	default:
		return &ConfigError{Msg: fmt.Sprintf("auth: %q: want on or off", c.Auth)}
	}
	if c.Auth == "on" && c.Users == "" {
		return &ConfigError{Msg: "auth: auth on needs a users file (users: path; see parley passwd)"}
	}
	if !c.Loopback() && c.Auth != "off" && c.Users == "" {
		return &ConfigError{Msg: "listen: a listener off loopback needs a users file (users: path) or an explicit auth: off"}
	}
	for _, l := range c.Listen {
		if (strings.HasPrefix(l, "tls:") || strings.HasPrefix(l, "wss:")) && (c.TLS.Cert == "" || c.TLS.Key == "") {
			return &ConfigError{Msg: fmt.Sprintf("listen: listener %q needs tls.cert and tls.key", l)}
		}
	}
	return nil
}
