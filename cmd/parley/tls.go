package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"time"
)

// clientTLS is the configuration for outgoing TLS and WSS connections:
// the system roots, or --ca; --insecure skips the verification (for test
// servers with self-signed certificates only).
func (f *clientFlags) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("--ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &exitError{code: 2, err: fmt.Errorf("--ca %s: no PEM certificate in it", f.ca)}
		}
		cfg.RootCAs = pool
	}
	if f.insecure {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// serverTLS is the configuration of a TLS or WSS listener: --cert and
// --key, or a self-signed certificate for ip made now (valid one day).
func (f *phoneFlags) serverTLS(ip netip.Addr) (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, &exitError{code: 2, err: errors.New("--cert and --key go together")}
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("--cert/--key: %w", err)}
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}, nil
	}
	c, err := selfSigned(ip)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}, nil
}

// selfSigned makes an ECDSA P-256 certificate for ip.
func selfSigned(ip netip.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "parley " + ip.String()},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{ip.AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
