package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSConfigOff(t *testing.T) {
	c, err := tlsConfig(DefaultConfig())
	if c != nil || err != nil {
		t.Errorf("tlsConfig(default) = %v, %v; want nil, nil", c, err)
	}
}

func TestTLSConfigSelfSigned(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SelfSigned = true
	cfg.Listen = "192.0.2.7:8443"
	cfg.PublicIP = "203.0.113.5"
	tc, err := tlsConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", tc.MinVersion)
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(leaf.NotAfter); life < 29*24*time.Hour || life > 30*24*time.Hour {
		t.Errorf("certificate lives %v more, want about 30 days", life)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "192.0.2.7", "203.0.113.5"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("certificate verifies for example.com")
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			if err := leaf.VerifyHostname(n.IP.String()); err != nil {
				t.Errorf("certificate does not cover interface address %s: %v", n.IP, err)
			}
		}
	}

	// A real handshake, as a browser that accepted the certificate would do.
	cconn, sconn := net.Pipe()
	defer cconn.Close()
	defer sconn.Close()
	srvErr := make(chan error, 1)
	go func() { srvErr <- tls.Server(sconn, tc).Handshake() }()
	if err := tls.Client(cconn, &tls.Config{RootCAs: roots, ServerName: "localhost"}).Handshake(); err != nil {
		t.Errorf("client handshake: %v", err)
	}
	if err := <-srvErr; err != nil {
		t.Errorf("server handshake: %v", err)
	}
}

func TestTLSConfigFiles(t *testing.T) {
	dir := t.TempDir()
	cert, err := selfSignedCert([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := selfSignedCert([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPath := writePEM(t, dir, "cert.pem", "CERTIFICATE", cert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := writePEM(t, dir, "key.pem", "PRIVATE KEY", keyDER)
	otherDER, err := x509.MarshalPKCS8PrivateKey(other.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyPath := writePEM(t, dir, "other.pem", "PRIVATE KEY", otherDER)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name      string
		cert, key string
		want      string // "" means success
		notExist  bool
	}{
		{name: "ok", cert: certPath, key: keyPath},
		{name: "missing cert", cert: missing, key: keyPath, want: missing, notExist: true},
		{name: "missing key", cert: certPath, key: missing, want: missing, notExist: true},
		{name: "key does not match", cert: certPath, key: otherKeyPath, want: otherKeyPath},
		{name: "key file is a cert", cert: certPath, key: certPath, want: "load TLS certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TLSCert, cfg.TLSKey = tt.cert, tt.key
			tc, err := tlsConfig(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS12 {
					t.Errorf("config = %+v", tc)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if tt.notExist && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
		})
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
