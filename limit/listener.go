package limit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener so that one client address holds at most
// PerIP open connections: a connection beyond it is closed as soon as it is
// accepted, so a single host cannot take the server's file descriptors.
type Listener struct {
	net.Listener
	perIP    int
	refused  atomic.Uint64
	mu       sync.Mutex
	open     map[string]int
	onRefuse func(ip string)
}

// NewListener caps ln at perIP connections per client IP (perIP ≤ 0: no
// cap). onRefuse, if set, is told about each refused connection (the caller
// rate-limits its own logging).
func NewListener(ln net.Listener, perIP int, onRefuse func(ip string)) *Listener {
	return &Listener{Listener: ln, perIP: perIP, open: map[string]int{}, onRefuse: onRefuse}
}

// Accept returns the next connection whose address is under its cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.perIP <= 0 {
			return c, nil
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		n := l.open[ip]
		if n >= l.perIP {
			l.mu.Unlock()
			l.refused.Add(1)
			c.Close()
			if l.onRefuse != nil {
				l.onRefuse(ip)
			}
			continue
		}
		l.open[ip] = n + 1
		l.mu.Unlock()
		return &trackedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// Refused reports how many connections were closed for being over the cap.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Open reports how many connections ip holds now.
func (l *Listener) Open(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	if l.open[ip] <= 1 {
		delete(l.open, ip)
	} else {
		l.open[ip]--
	}
	l.mu.Unlock()
}

type trackedConn struct {
	net.Conn
	l    *Listener
	ip   string
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
