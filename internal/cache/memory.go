package cache

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultMaxEntries bounds a Memory backend when MemoryOptions leaves it 0:
// a few keys per symbol for many exchanges and symbols.
const DefaultMaxEntries = 10000

// MemoryOptions configure a Memory backend.
type MemoryOptions struct {
	MaxEntries int              // least recently used entries go first; DefaultMaxEntries when <= 0
	Now        func() time.Time // time.Now when nil
}

// Memory is an in-process LRU with TTLs: at most MaxEntries values, and an
// expired value is never returned. It is safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	order *list.List // front: most recently used; elements hold *memItem
	items map[string]*list.Element
}

type memItem struct {
	key     string
	value   []byte
	expires time.Time
}

// NewMemory returns an empty Memory backend.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{max: opts.MaxEntries, now: opts.Now, order: list.New(), items: make(map[string]*list.Element)}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Name is "memory".
func (m *Memory) Name() string { return "memory" }

// Publish drops the messages: an in-process cache has no subscribers.
func (m *Memory) Publish(context.Context, []Message) error { return ErrNotPublished }

// Set stores copies of the entries' values.
func (m *Memory) Set(_ context.Context, entries []Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, e := range entries {
		m.put(e.Key, e.Value, now.Add(e.TTL))
	}
	return nil
}

func (m *Memory) put(key string, value []byte, expires time.Time) {
	it := &memItem{key: key, value: slices.Clone(value), expires: expires}
	if el, ok := m.items[key]; ok {
		el.Value = it
		m.order.MoveToFront(el)
		return
	}
	m.items[key] = m.order.PushFront(it)
	for m.order.Len() > m.max {
		m.remove(m.order.Back())
	}
}

func (m *Memory) remove(el *list.Element) {
	m.order.Remove(el)
	delete(m.items, el.Value.(*memItem).key)
}

// lookup returns the unexpired item under key, dropping an expired one.
func (m *Memory) lookup(key string, now time.Time) *memItem {
	el, ok := m.items[key]
	if !ok {
		return nil
	}
	it := el.Value.(*memItem)
	if !now.Before(it.expires) {
		m.remove(el)
		return nil
	}
	m.order.MoveToFront(el)
	return it
}

// Get returns a copy of key's value if it has not expired.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.lookup(key, m.now())
	if it == nil {
		return nil, false, nil
	}
	return slices.Clone(it.value), true, nil
}

// Update runs fn under the lock, so it is atomic.
func (m *Memory) Update(_ context.Context, key string, fn UpdateFunc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var old []byte
	it := m.lookup(key, now)
	if it != nil {
		old = it.value
	}
	v, ttl, err := fn(old, it != nil)
	if err != nil {
		return err
	}
	m.put(key, v, now.Add(ttl))
	return nil
}

// Len is the number of entries held, expired ones not yet dropped included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// Purge drops every entry.
func (m *Memory) Purge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.order.Init()
	clear(m.items)
}
