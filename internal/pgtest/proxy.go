package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy in front of a PostgreSQL server that a test can
// turn against its clients the way pgbouncer or a failover proxy does:
// close their connections cleanly (a FIN, no error) in the middle of what
// they send, or refuse new ones.
type Proxy struct {
	target string
	ln     net.Listener
	url    string

	cutAfter atomic.Int64 // > 0: cut each connection after it sent this many more bytes
	cuts     atomic.Int64
	refuse   atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the server of dbURL and returns it; URL is
// dbURL through the proxy. It stops when the test ends.
func NewProxy(t testing.TB, dbURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{target: u.Host, ln: ln, conns: map[net.Conn]bool{}}
	u.Host = ln.Addr().String()
	p.url = u.String()
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// URL is the database URL through the proxy.
func (p *Proxy) URL() string { return p.url }

// CutAfter makes every connection, open or new, be closed cleanly once it
// has sent n more bytes to the server; 0 stops cutting.
func (p *Proxy) CutAfter(n int64) { p.cutAfter.Store(n) }

// Cuts counts the connections cut so far.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Refuse makes the proxy close new connections at once (true) or serve
// them again (false).
func (p *Proxy) Refuse(on bool) { p.refuse.Store(on) }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.down(c, s)
		go p.up(c, s)
	}
}

// down copies the server's answers to the client.
func (p *Proxy) down(c, s net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(c, s)
	closeWrite(c)
}

// up copies what the client sends, cutting when armed: the server side is
// closed, the client gets a clean end of stream, and what it still sends
// is read and dropped (so its socket sees no reset).
func (p *Proxy) up(c, s net.Conn) {
	defer p.wg.Done()
	defer p.forget(c, s)
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if limit := p.cutAfter.Load(); limit > 0 {
				sent += int64(n)
				if sent > limit {
					p.cuts.Add(1)
					_ = s.Close()
					closeWrite(c)
					_, _ = io.Copy(io.Discard, c)
					return
				}
			} else {
				sent = 0
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) forget(c, s net.Conn) {
	_ = c.Close()
	_ = s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = c.Close()
}
