package callcenter

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Webhook deliveries: every event is written to the outbox (bbolt) in the
// transaction that made it, with one pending delivery per endpoint; each
// endpoint has one goroutine that posts its pending events in order, the
// oldest first, and retries the head with exponential backoff until it is
// acknowledged (any 2xx) or GiveUp has passed. Delivery is at least once:
// a receiver deduplicates by the event id.

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body.
const (
	SignatureHeader = "X-Stoa-Signature"
	EventHeader     = "X-Stoa-Event"
)

// Sign is the X-Stoa-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookEvent is the JSON body of a webhook POST.
type WebhookEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// At is when the event happened, Unix milliseconds.
	At   int64           `json:"at"`
	Data json.RawMessage `json:"data"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is the log of one event's delivery to one endpoint.
type Delivery struct {
	Event string `json:"event"`
	Type  string `json:"type"`
	URL   string `json:"url"`
	State string `json:"state"`
	// Attempts counts the POSTs made; LastStatus is the last answer's HTTP
	// status (0 if none came), LastError what went wrong with it.
	Attempts      int    `json:"attempts"`
	LastStatus    int    `json:"lastStatus,omitempty"`
	LastError     string `json:"lastError,omitempty"`
	CreatedAt     int64  `json:"createdAt"`
	LastAttemptAt int64  `json:"lastAttemptAt,omitempty"`
	NextAttemptAt int64  `json:"nextAttemptAt,omitempty"`
	DeliveredAt   int64  `json:"deliveredAt,omitempty"`
}

// endpoint is a configured webhook and its delivery goroutine's doorbell.
type endpoint struct {
	Webhook
	key  string // 16 hex digits of the URL's SHA-256: the store's name for it
	ring chan struct{}
}

// outbox delivers the service's webhook events.
type outbox struct {
	s         *Service
	endpoints []*endpoint
	client    *http.Client
	base, top time.Duration
	giveUp    time.Duration
}

func newOutbox(s *Service, o Options) *outbox {
	ob := &outbox{s: s, client: o.Client, base: o.RetryBase, top: o.RetryMax, giveUp: o.GiveUp}
	seen := map[string]bool{}
	for _, w := range o.Webhooks {
		sum := sha256.Sum256([]byte(w.URL))
		key := hex.EncodeToString(sum[:8])
		if seen[key] {
			continue
		}
		seen[key] = true
		ob.endpoints = append(ob.endpoints, &endpoint{Webhook: w, key: key, ring: make(chan struct{}, 1)})
	}
	return ob
}

func (ob *outbox) start() {
	for _, ep := range ob.endpoints {
		ob.s.wg.Add(1)
		go ob.run(ep)
	}
}

// notify rings every endpoint's goroutine.
func (ob *outbox) notify() {
	for _, ep := range ob.endpoints {
		select {
		case ep.ring <- struct{}{}:
		default:
		}
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// enqueue writes event typ with data into the outbox in tx, with a pending
// delivery per endpoint; the caller notifies after the commit.
func (ob *outbox) enqueue(tx *bolt.Tx, typ string, data any) (uint64, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("encode %s event: %w", typ, err)
	}
	events := tx.Bucket(eventsBucket)
	seq, err := events.NextSequence()
	if err != nil {
		return 0, err
	}
	now := ms(ob.s.now())
	ev := WebhookEvent{ID: "ev-" + strconv.FormatUint(seq, 10), Type: typ, At: now, Data: raw}
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("encode %s event: %w", typ, err)
	}
	if err := events.Put(seqKey(seq), body); err != nil {
		return 0, err
	}
	for _, ep := range ob.endpoints {
		d := Delivery{Event: ev.ID, Type: typ, URL: ep.safeURL(), State: DeliveryPending, CreatedAt: now}
		if err := putDelivery(tx, seq, ep.key, &d); err != nil {
			return 0, err
		}
		if err := tx.Bucket(pendingBucket).Put(append([]byte(ep.key), seqKey(seq)...), nil); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

func putDelivery(tx *bolt.Tx, seq uint64, key string, d *Delivery) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Bucket(deliveryBucket).Put(append(seqKey(seq), key...), raw)
}

// Emit files an event for the webhooks, e.g. recording-started or
// recording-stopped with the recording's id and room: typ is 1 to 64
// characters of a-z, 0-9 and '-', data any JSON value.
func (s *Service) Emit(typ string, data any) error {
	if typ == "" || len(typ) > 64 || strings.ContainsFunc(typ, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-')
	}) {
		return fmt.Errorf("%w: event type %q must be 1-64 characters of a-z, 0-9 and -", ErrBadInput, truncate(typ, 64))
	}
	err := s.update(func(tx *bolt.Tx) error {
		_, err := s.hooks.enqueue(tx, typ, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	s.hooks.notify()
	return nil
}

// forgetUnconfigured marks failed the pending deliveries to endpoints no
// longer configured, so they do not wait forever.
func (ob *outbox) forgetUnconfigured() error {
	known := map[string]bool{}
	for _, ep := range ob.endpoints {
		known[ep.key] = true
	}
	return ob.s.update(func(tx *bolt.Tx) error {
		var stale [][]byte
		pend := tx.Bucket(pendingBucket)
		_ = pend.ForEach(func(k, _ []byte) error {
			if len(k) == 24 && !known[string(k[:16])] {
				stale = append(stale, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range stale {
			key, seq := string(k[:16]), binary.BigEndian.Uint64(k[16:])
			if raw := tx.Bucket(deliveryBucket).Get(append(seqKey(seq), key...)); raw != nil {
				var d Delivery
				if json.Unmarshal(raw, &d) == nil {
					d.State, d.LastError, d.NextAttemptAt = DeliveryFailed, "the endpoint is no longer configured", 0
					if err := putDelivery(tx, seq, key, &d); err != nil {
						return err
					}
				}
			}
			if err := pend.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// head returns ep's oldest pending delivery.
func (ob *outbox) head(ep *endpoint) (seq uint64, d Delivery, body []byte, ok bool, err error) {
	err = ob.s.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(pendingBucket).Cursor().Seek([]byte(ep.key))
		if k == nil || !bytes.HasPrefix(k, []byte(ep.key)) || len(k) != len(ep.key)+8 {
			return nil
		}
		seq = binary.BigEndian.Uint64(k[len(ep.key):])
		raw := tx.Bucket(deliveryBucket).Get(append(seqKey(seq), ep.key...))
		body = bytes.Clone(tx.Bucket(eventsBucket).Get(seqKey(seq)))
		if raw == nil || body == nil {
			return fmt.Errorf("outbox entry %d for %s is incomplete", seq, ep.key)
		}
		ok = true
		return json.Unmarshal(raw, &d)
	})
	return seq, d, body, ok, err
}

// run delivers ep's events until the service closes.
func (ob *outbox) run(ep *endpoint) {
	defer ob.s.wg.Done()
	ctx := ob.s.ctx
	for ctx.Err() == nil {
		seq, d, body, ok, err := ob.head(ep)
		if err == nil && ok {
			if wait := time.UnixMilli(d.NextAttemptAt).Sub(ob.s.now()); d.NextAttemptAt == 0 || wait <= 0 {
				ob.attempt(ctx, ep, seq, d, body)
				continue
			}
		}
		// Wait: for the head's next attempt (new events queue behind it, so
		// a ring does not hurry it), for a new event when idle, or a while
		// after a store error.
		var timer <-chan time.Time
		var t *time.Timer
		switch {
		case err != nil:
			ob.s.log.Error("webhook outbox", "url", ep.safeURL(), "err", err)
			t = time.NewTimer(ob.top)
		case ok:
			t = time.NewTimer(time.UnixMilli(d.NextAttemptAt).Sub(ob.s.now()))
		}
		if t != nil {
			timer = t.C
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				if t != nil {
					t.Stop()
				}
				return
			case <-ep.ring:
				if !ok {
					break wait
				}
			case <-timer:
				break wait
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// safeURL is the endpoint's URL without its query, for logs: a query may
// carry a credential.
func (ep *endpoint) safeURL() string {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// attempt posts one event to ep and logs the outcome in the store.
func (ob *outbox) attempt(ctx context.Context, ep *endpoint, seq uint64, d Delivery, body []byte) {
	status, err := ob.post(ctx, ep, d.Type, body)
	if ctx.Err() != nil {
		return // shutting down: the attempt does not count
	}
	now := ob.s.now()
	d.Attempts++
	d.LastAttemptAt, d.LastStatus, d.LastError = ms(now), status, ""
	done := err == nil
	if err != nil {
		d.LastError = err.Error()
		backoff := ob.base << min(d.Attempts-1, 30)
		if backoff <= 0 || backoff > ob.top {
			backoff = ob.top
		}
		d.NextAttemptAt = ms(now.Add(backoff))
		if now.Sub(time.UnixMilli(d.CreatedAt)) >= ob.giveUp {
			d.State, d.NextAttemptAt = DeliveryFailed, 0
			done = true
			ob.s.log.Warn("webhook given up", "url", ep.safeURL(), "event", d.Event, "type", d.Type, "attempts", d.Attempts, "err", err)
		} else {
			ob.s.log.Info("webhook failed; will retry", "url", ep.safeURL(), "event", d.Event, "attempt", d.Attempts, "in", backoff, "err", err)
		}
	} else {
		d.State, d.DeliveredAt, d.NextAttemptAt = DeliveryDelivered, ms(now), 0
	}
	uerr := ob.s.update(func(tx *bolt.Tx) error {
		if err := putDelivery(tx, seq, ep.key, &d); err != nil {
			return err
		}
		if done {
			return tx.Bucket(pendingBucket).Delete(append([]byte(ep.key), seqKey(seq)...))
		}
		return nil
	})
	if uerr != nil {
		ob.s.log.Error("webhook delivery log", "url", ep.safeURL(), "event", d.Event, "err", uerr)
	}
}

// post sends one signed event; a non-2xx answer is an error.
func (ob *outbox) post(ctx context.Context, ep *endpoint, typ string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Stoa-Webhooks/1")
	req.Header.Set(EventHeader, typ)
	req.Header.Set(SignatureHeader, Sign(ep.Secret, body))
	res, err := ob.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, whose query may carry a credential
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("answered %s", res.Status)
	}
	return res.StatusCode, nil
}

// DeliveryFilter selects delivery log entries.
type DeliveryFilter struct {
	// State is pending, delivered or failed; "" is all.
	State string
	// Limit is how many at most, newest first; 0 means 100, at most 1000.
	Limit int
}

// Deliveries returns the webhook delivery log, newest event first.
func (s *Service) Deliveries(f DeliveryFilter) ([]Delivery, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	out := []Delivery{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(deliveryBucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < f.Limit; k, v = c.Prev() {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery: %w", err)
			}
			if f.State == "" || d.State == f.State {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}
