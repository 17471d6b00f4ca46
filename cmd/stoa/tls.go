package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"slices"
	"time"
)

// selfSignedLifetime is how long a --self-signed certificate is valid: long
// enough for any trial, short enough that a stray copy soon stops mattering.
const selfSignedLifetime = 30 * 24 * time.Hour

// tlsConfig returns the server's TLS settings, or nil, nil when c asks for
// plain HTTP (no certificate and not SelfSigned).
func tlsConfig(c Config) (*tls.Config, error) {
	var cert tls.Certificate
	switch {
	case c.TLSCert != "" || c.TLSKey != "":
		certPEM, err := os.ReadFile(c.TLSCert)
		if err != nil {
			return nil, fmt.Errorf("read TLS certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("read TLS key: %w", err)
		}
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", c.TLSCert, c.TLSKey, err)
		}
	case c.SelfSigned:
		var err error
		cert, err = selfSignedCert(selfSignedHosts(c), time.Now())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(cert.Leaf.Raw)
		slog.Info("made a self-signed TLS certificate; browsers will ask to accept it",
			"dns", cert.Leaf.DNSNames, "ips", cert.Leaf.IPAddresses,
			"expires", cert.Leaf.NotAfter.Format(time.RFC3339), "sha256", hex.EncodeToString(sum[:]))
	default:
		return nil, nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// selfSignedHosts lists the names a self-signed certificate should cover:
// localhost, the loopback IPs, the host part of Listen, PublicIP, and every
// non-loopback IP of this machine, so a phone on the LAN can use any of them.
func selfSignedHosts(c Config) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	if c.PublicIP != "" {
		hosts = append(hosts, c.PublicIP)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		slog.Warn("self-signed certificate: cannot list interface addresses", "err", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			hosts = append(hosts, n.IP.String())
		}
	}
	return hosts
}

// selfSignedCert makes an ECDSA P-256 certificate for hosts (DNS names or
// IPs), signed by its own key and valid from an hour before now (for clock
// skew) until selfSignedLifetime after it.
func selfSignedCert(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Stoa"}, CommonName: "stoa self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, // and not a CA: browsers refuse a CA certificate used by a server
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: create: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: parse: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
