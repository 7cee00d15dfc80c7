package digest

import (
	"strings"
	"testing"

	"github.com/parleysip/parley/sip"
)

// Worked examples: RFC 2617 §3.5 (MD5) and RFC 7616 §3.9.1 (SHA-256 and
// MD5). The SHA-512-256 row uses the inputs of RFC 7616 §3.9.2 without
// userhash; its printed values do not match the algorithm (the RFC's
// example is wrong, see its errata), so the expected values were computed
// independently with Python's hashlib.
var vectors = []struct {
	name                   string
	alg                    Algorithm
	user, realm, password  string
	method, uri            string
	nonce, nc, cnonce, qop string
	wantHA1, wantResponse  string
	wantUserhash           string
}{
	{
		name: "RFC 2617 §3.5", alg: MD5,
		user: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life",
		method: "GET", uri: "/dir/index.html",
		nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", nc: "00000001", cnonce: "0a4f113b", qop: "auth",
		wantHA1:      "939e7578ed9e3c518a452acee763bce9",
		wantResponse: "6629fae49393a05397450978507c4ef1",
	},
	{
		name: "RFC 7616 §3.9.1 MD5", alg: MD5,
		user: "Mufasa", realm: "http-auth@example.org", password: "Circle of Life",
		method: "GET", uri: "/dir/index.html",
		nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc: "00000001",
		cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop: "auth",
		wantResponse: "8ca523f5e9506fed4657c9700eebdbec",
	},
	{
		name: "RFC 7616 §3.9.1 SHA-256", alg: SHA256,
		user: "Mufasa", realm: "http-auth@example.org", password: "Circle of Life",
		method: "GET", uri: "/dir/index.html",
		nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc: "00000001",
		cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop: "auth",
		wantResponse: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	},
	{
		name: "SHA-512-256 (RFC 7616 §3.9.2 inputs)", alg: SHA512_256,
		user: "J\u00e4s\u00f8n Doe", realm: "api@example.org", password: "Secret, or not?",
		method: "GET", uri: "/doe.json",
		nonce: "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc: "00000001",
		cnonce: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop: "auth",
		wantResponse: "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5",
		wantUserhash: "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b",
	},
}

func TestResponseVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			ha1 := HA1(v.user, v.realm, v.password, v.alg)
			if v.wantHA1 != "" && ha1 != v.wantHA1 {
				t.Errorf("HA1 = %s, want %s", ha1, v.wantHA1)
			}
			if got := Response(v.alg, ha1, v.nonce, v.nc, v.cnonce, v.qop, v.method, v.uri, nil); got != v.wantResponse {
				t.Errorf("Response = %s, want %s", got, v.wantResponse)
			}
			// The same through Answer, as a client computes it.
			ch := sip.Auth{Scheme: "Digest", Params: `realm="` + v.realm + `", qop="auth, auth-int", algorithm=` + string(v.alg) + `, nonce="` + v.nonce + `", opaque="xyz"`}
			if v.wantUserhash != "" {
				ch.Params += ", userhash=true"
			}
			cred, err := Answer(ch, sip.Method(v.method), v.uri, v.user, v.password, nil, func() string { return v.cnonce }, 1)
			if err != nil {
				t.Fatal(err)
			}
			checks := map[string]string{
				"response": v.wantResponse, "realm": v.realm, "nonce": v.nonce, "uri": v.uri,
				"qop": "auth", "nc": "00000001", "cnonce": v.cnonce, "opaque": "xyz", "algorithm": string(v.alg),
			}
			if v.wantUserhash != "" {
				checks["username"] = v.wantUserhash
				checks["userhash"] = "true"
			} else {
				checks["username"] = v.user
			}
			for k, want := range checks {
				if got, _ := cred.Get(k); got != want {
					t.Errorf("Answer %s = %q, want %q", k, got, want)
				}
			}
			if _, err := sip.ParseAuth(Value(cred)); err != nil {
				t.Errorf("Answer value does not parse: %v", err)
			}
		})
	}
}

func TestResponseForms(t *testing.T) {
	ha1 := HA1("Mufasa", "testrealm@host.com", "Circle Of Life", MD5)
	// RFC 2069: H(HA1:nonce:HA2).
	want := MD5.h(ha1, ":", "n", ":", MD5.h("GET:/x"))
	if got := Response(MD5, ha1, "n", "", "", "", "GET", "/x", nil); got != want {
		t.Errorf("no qop: %s, want %s", got, want)
	}
	// auth-int: HA2 = H(method:uri:H(body)).
	want = MD5.h(ha1, ":n:00000001:c:auth-int:", MD5.h("GET:/x:", MD5.h("body")))
	if got := Response(MD5, ha1, "n", "00000001", "c", "auth-int", "GET", "/x", []byte("body")); got != want {
		t.Errorf("auth-int: %s, want %s", got, want)
	}
	// -sess: HA1' = H(HA1:nonce:cnonce).
	want = Response(SHA256, SHA256.h(HA1("u", "r", "p", SHA256), ":n:c"), "n", "00000001", "c", "auth", "GET", "/x", nil)
	if got := Response(SHA256+"-sess", HA1("u", "r", "p", SHA256), "n", "00000001", "c", "auth", "GET", "/x", nil); got != want {
		t.Errorf("sess: %s, want %s", got, want)
	}
	if got := Response("SHA-1", ha1, "n", "", "", "", "GET", "/x", nil); got != "" {
		t.Errorf("unknown algorithm gave %q", got)
	}
	if got := Response(MD5, ha1, "n", "1", "c", "auth-conf", "GET", "/x", nil); got != "" {
		t.Errorf("unknown qop gave %q", got)
	}
}

func TestAlgorithm(t *testing.T) {
	tests := []struct {
		a     Algorithm
		known bool
		size  int
	}{
		{MD5, true, 32}, {"md5", true, 32}, {SHA256, true, 64}, {"sha-256", true, 64},
		{SHA512_256, true, 64}, {"MD5-sess", false, 32}, {"SHA-1", false, 0}, {"", false, 0},
	}
	for _, tt := range tests {
		if got := tt.a.Known(); got != tt.known {
			t.Errorf("%q.Known() = %v", tt.a, got)
		}
		if got := tt.a.Size(); got != tt.size {
			t.Errorf("%q.Size() = %d, want %d", tt.a, got, tt.size)
		}
	}
	if HA1("u", "r", "p", "SHA-1") != "" {
		t.Error("HA1 with unknown algorithm not empty")
	}
}

func TestChoose(t *testing.T) {
	parse := func(vs ...string) []sip.Auth {
		var out []sip.Auth
		for _, v := range vs {
			a, err := sip.ParseAuth(v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	tests := []struct {
		in   []string
		want string // algorithm param, "-" for none chosen
	}{
		{[]string{`Digest realm="r", nonce="n", algorithm=MD5`, `Digest realm="r", nonce="n", algorithm=SHA-256`}, "SHA-256"},
		{[]string{`Digest realm="r", nonce="n", algorithm=SHA-512-256`, `Digest realm="r", nonce="n", algorithm=SHA-256`}, "SHA-512-256"},
		{[]string{`Digest realm="r", nonce="n", algorithm=SHA-1`, `Digest realm="r", nonce="n"`}, ""},
		{[]string{`Basic realm="r"`, `Digest realm="r", nonce="n", algorithm=FOO`}, "-"},
		{nil, "-"},
	}
	for _, tt := range tests {
		c, ok := Choose(parse(tt.in...))
		got := "-"
		if ok {
			got, _ = c.Get("algorithm")
		}
		if got != tt.want {
			t.Errorf("Choose(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAnswerErrors(t *testing.T) {
	tests := []struct {
		ch   string
		want error
	}{
		{`Basic realm="r"`, ErrNotDigest},
		{`Digest realm="r"`, ErrChallenge},
		{`Digest nonce="n"`, ErrChallenge},
		{`Digest realm="r", nonce="n", algorithm=SHA-1`, ErrAlgorithm},
		{`Digest realm="r", nonce="n", qop="auth-conf"`, ErrQop},
	}
	for _, tt := range tests {
		a, err := sip.ParseAuth(tt.ch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Answer(a, sip.INVITE, "sip:bob@b", "u", "p", nil, nil, 1); err == nil || !strings.Contains(err.Error(), tt.want.Error()) {
			t.Errorf("Answer(%s) error %v, want %v", tt.ch, err, tt.want)
		}
	}
}

func TestAnswerForms(t *testing.T) {
	// No qop: no cnonce or nc; only auth-int: auth-int; random cnonce.
	a, _ := sip.ParseAuth(`Digest realm="r", nonce="n"`)
	c, err := Answer(a, sip.INVITE, "sip:b@x", "u", "p", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"qop", "nc", "cnonce"} {
		if _, ok := c.Get(k); ok {
			t.Errorf("RFC 2069 answer has %s", k)
		}
	}
	if alg, _ := c.Get("algorithm"); alg != "MD5" {
		t.Errorf("algorithm %q, want MD5", alg)
	}
	a, _ = sip.ParseAuth(`Digest realm="r", nonce="n", qop="auth-int"`)
	c, err = Answer(a, sip.MESSAGE, "sip:b@x", `we"ird\user`, "p", []byte("hi"), nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := c.Get("qop"); q != "auth-int" {
		t.Errorf("qop %q", q)
	}
	if nc, _ := c.Get("nc"); nc != "00000007" {
		t.Errorf("nc %q", nc)
	}
	if cn, _ := c.Get("cnonce"); len(cn) != 32 {
		t.Errorf("random cnonce %q", cn)
	}
	if u, _ := c.Get("username"); u != `we"ird\user` {
		t.Errorf("username round trip %q", u)
	}
}
