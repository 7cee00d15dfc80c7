package sip

import (
	"strings"
	"testing"

	"github.com/parleysip/parley/internal/abnf"
)

// nameAddrSeeds are From/To/Contact values of every shape: those the
// one-pass scan accepts and those it leaves to the full parser, valid and
// not.
var nameAddrSeeds = []string{
	"<sip:alice@example.com>;tag=9fxced76",
	"<sip:bob@example.com>",
	`"Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774`,
	"Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
	"Bob<sip:bob@biloxi.example.com>",
	"<sip:bob@192.0.2.20:5060;transport=udp>;expires=3600",
	"<sips:alice@[2001:db8::1]:5061>",
	"<sip:alice@host;maddr=10.0.0.1;lr>;TAG=x;tag=y",
	"<sip:alice@host> ; tag = \"quoted\" ; q=0.7",
	"<sip:alice@host>;tag",
	"<sip:alice@host>;tag=",
	"<sip:alice@host>;tag=a;b",
	"<sip:%61lice@host>",
	"<sip:alice:pw@host>",
	"<sip:alice@host?subject=x>",
	"<sip:host:5060@x>",
	"<sip:@host>",
	"<sip:alice@host:99999>",
	"<sip:alice@host;p=%zz>",
	"<sip:alice@host;;p>",
	"<sip:alice@host>;tag=a b",
	"<sip:alice@host> x",
	"sip:alice@example.com;tag=bare",
	"<tel:+1-201-555-0123>;tag=t",
	"<urn:service:sos>",
	"Alice, Bob <sip:a@b>",
	`"unterminated <sip:a@b>`,
	"<sip:alice@host",
	"<SIP:alice@host>",
	"\t<sip:a@b>\t",
	"",
	"*",
}

// TestScanNameAddrAgrees checks the one-pass scan against the full parser
// on values of every shape.
func TestScanNameAddrAgrees(t *testing.T) {
	fast := 0
	for _, s := range nameAddrSeeds {
		if checkScanNameAddr(t, s) {
			fast++
		}
	}
	if fast < 10 {
		t.Errorf("the scan accepted only %d of the seeds", fast)
	}
}

// checkScanNameAddr fails t if the scan accepts s while the full parser
// rejects it or finds another tag; it reports whether the scan accepted.
func checkScanNameAddr(t *testing.T, s string) bool {
	t.Helper()
	tag, tagged, ok := scanNameAddr(s)
	if !ok {
		return false
	}
	var n NameAddr
	if err := parseNameAddr(&n, s); err != nil {
		t.Fatalf("%q: scan accepts, parseNameAddr: %v", s, err)
	}
	if wt, wok := n.Params.Get("tag"); wt != tag || wok != tagged {
		t.Fatalf("%q: scan tag %q %v, parsed %q %v", s, tag, tagged, wt, wok)
	}
	return true
}

// FuzzScanNameAddr holds the one-pass scan to the full parser's verdicts.
func FuzzScanNameAddr(f *testing.F) {
	for _, s := range nameAddrSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkScanNameAddr(t, s) })
}

func BenchmarkScanNameAddr(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := scanNameAddr("<sip:alice@example.com>;tag=9fxced76"); !ok {
			b.Fatal("not accepted")
		}
	}
}

// TestCommonHeaderAgrees checks the shortcut for the usual header lines
// against the general split (token name, colon, trimmed value, table
// lookup) on every name of the table and every compact form, with several
// spacings and values.
func TestCommonHeaderAgrees(t *testing.T) {
	var names []string
	for id := range hdrTable {
		if n := string(hdrTable[id].name); n != "" {
			names = append(names, n, strings.ToLower(n), strings.ToUpper(n))
		}
		if c := hdrTable[id].compact; c != 0 {
			names = append(names, string(c), strings.ToUpper(string(c)))
		}
	}
	names = append(names, "Vias", "Fro", "X-Via", "T", "C")
	hits := 0
	var p parser
	for _, n := range names {
		for _, sep := range []string{": ", ":", " : ", ":  ", ":\t"} {
			for _, v := range []string{"x", "a b", "x ", "", " ", "<sip:a@b>;tag=1"} {
				line := n + sep + v
				id, vs := commonHeader(line)
				if vs == 0 {
					continue
				}
				hits++
				wid, wname, wvalue, ok := p.headerName(line, 0)
				value := abnf.TrimWS(line[vs:])
				if !ok || id != wid || line[:vs-2] != wname || value != wvalue {
					t.Errorf("%q: shortcut %d %q %q, general %d %q %q", line, id, line[:vs-2], value, wid, wname, wvalue)
				}
			}
		}
	}
	if hits < 100 {
		t.Errorf("the shortcut took only %d lines", hits)
	}
}

var paramSeeds = []string{
	"", ";tag=1", ";branch=z9hG4bK74bf9a3c;rport", ";TAG=a;tag=b", ";tag;x=1", ";x=1;tag",
	";received=[2001:db8::1]", ";a=b c", ";a = b", `;a="q;x"`, ";", ";=x", ";a=", ";a==b", "x", ";a;;b", ";a=%41",
}

// checkPlainParams fails t if plainParams accepts s while the general
// check rejects it or Params.Get finds another tag.
func checkPlainParams(t *testing.T, s string) bool {
	t.Helper()
	tag, tagged, ok := plainParams(s)
	if !ok {
		return false
	}
	if !validHeaderParamsAny(s) {
		t.Fatalf("%q: plainParams accepts, validHeaderParams rejects", s)
	}
	if wt, wok := Params(s).Get("tag"); wt != tag || wok != tagged {
		t.Fatalf("%q: plain tag %q %v, Get %q %v", s, tag, tagged, wt, wok)
	}
	if st, stagged, sok := scanHeaderParams(s); !sok || st != tag || stagged != tagged {
		t.Fatalf("%q: scanHeaderParams %q %v %v", s, st, stagged, sok)
	}
	return true
}

func TestPlainParamsAgrees(t *testing.T) {
	n := 0
	for _, s := range paramSeeds {
		if checkPlainParams(t, s) {
			n++
		}
	}
	if n < 5 {
		t.Errorf("plainParams accepted only %d seeds", n)
	}
}

// FuzzPlainParams holds the parameter shortcut to the general check.
func FuzzPlainParams(f *testing.F) {
	for _, s := range paramSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkPlainParams(t, s) })
}

// TestBranchAgreesWithGet: Via.Branch's shortcut returns what
// Params.Get("branch") does.
func TestBranchAgreesWithGet(t *testing.T) {
	for _, p := range append(paramSeeds, ";branch=z9hG4bK1", ";branch=\"q\"", ";branch=a\"b", ";Branch=x", ";branch",
		";branch=", ";rport;branch=x", ";branch=x y", ";branch=x;branch=y", ";branch=x\t;rport", ";branchx=1") {
		v := Via{Params: Params(p)}
		want, _ := v.Params.Get("branch")
		if got := v.Branch(); got != want {
			t.Errorf("%q: Branch %q, Get %q", p, got, want)
		}
	}
}
