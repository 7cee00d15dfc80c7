package abnf

import "testing"

func TestParseUint(t *testing.T) {
	for _, tc := range []struct {
		in  string
		max uint64
		v   uint64
		ok  bool
	}{
		{"0", 10, 0, true}, {"0068", 255, 68, true}, {"255", 255, 255, true}, {"256", 255, 0, false},
		{"4294967295", 1<<32 - 1, 1<<32 - 1, true}, {"4294967296", 1<<32 - 1, 0, false},
		{"36893488147419103232", 1<<64 - 1, 0, false}, {"", 10, 0, false}, {"-1", 10, 0, false}, {"1a", 99, 0, false},
		{"9999999999999999999", 1<<64 - 1, 9999999999999999999, true}, {"18446744073709551615", 1<<64 - 1, 1<<64 - 1, true},
		{"00000000000000000000042", 99, 42, true}, {"0000000000000000000004x", 99, 0, false}, {"1:", 99, 0, false},
	} {
		v, ok := ParseUint(tc.in, tc.max)
		if v != tc.v || ok != tc.ok {
			t.Errorf("ParseUint(%q, %d) = %d %v, want %d %v", tc.in, tc.max, v, ok, tc.v, tc.ok)
		}
	}
}

func TestQuotedString(t *testing.T) {
	for _, tc := range []struct {
		in  string
		end int
		ok  bool
	}{
		{`"abc"x`, 5, true}, {`"a\"b"`, 6, true}, {`"a\\"`, 5, true}, {`"abc`, 4, false},
		{"\"a\x01b\"", 2, false}, {"\"a\\\r\"", 3, false}, {`x"a"`, 0, false}, {"\"\xc3\xa9\"", 4, true},
	} {
		end, ok := QuotedString(tc.in, 0)
		if end != tc.end || ok != tc.ok {
			t.Errorf("QuotedString(%q) = %d %v, want %d %v", tc.in, end, ok, tc.end, tc.ok)
		}
	}
	if got := Unquote(`"a\"b\\c"`); got != `a"b\c` {
		t.Errorf("Unquote = %q", got)
	}
	if got := string(AppendQuoted(nil, `a"b\c`)); got != `"a\"b\\c"` {
		t.Errorf("AppendQuoted = %q", got)
	}
}

func TestEscapes(t *testing.T) {
	if got := Unescape("a%20b%00c%zz"); got != "a b\x00c%zz" {
		t.Errorf("Unescape = %q", got)
	}
	for s, want := range map[string]bool{"a%20": true, "%2": false, "%zz": false, "": true, "%41%42": true} {
		if ValidEscapes(s) != want {
			t.Errorf("ValidEscapes(%q) != %v", s, want)
		}
	}
}

func TestClasses(t *testing.T) {
	if !IsTokenString("!interesting-Method0123456789_*+`.%indeed'~") || IsTokenString("a b") || IsTokenString("") {
		t.Error("token class")
	}
	if !EqualFold("Call-ID", "cALL-id") || EqualFold("Call-ID", "Call-IE") || EqualFold("a", "ab") {
		t.Error("EqualFold")
	}
	if TrimWS(" \t\r\n x y \r\n") != "x y" {
		t.Error("TrimWS")
	}
	if !IsUserChar(';') || IsUserChar('@') || !IsParamChar(':') || IsParamChar(';') || !IsHnvChar('?') || IsHnvChar('&') {
		t.Error("URI classes")
	}
}

func TestCallIDCharIsWordOrAt(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := IsCallIDChar(b), IsWordChar(b) || b == '@'; got != want {
			t.Errorf("IsCallIDChar(%q) = %v, want %v", b, got, want)
		}
	}
}

func TestGenValueAndHostClasses(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := IsGenValue(b), IsToken(b) || b == ':' || b == '[' || b == ']'; got != want {
			t.Errorf("IsGenValue(%q) = %v, want %v", b, got, want)
		}
		if got, want := IsHostChar(b), IsAlnum(b) || b == '-' || b == '.' || b == '_'; got != want {
			t.Errorf("IsHostChar(%q) = %v, want %v", b, got, want)
		}
	}
}
