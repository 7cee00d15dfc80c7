package sdp

// Clone returns a deep copy of s that shares no memory with it.
func (s *Session) Clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.Emails = cloneSlice(s.Emails)
	c.Phones = cloneSlice(s.Phones)
	if s.Connection != nil {
		conn := *s.Connection
		c.Connection = &conn
	}
	c.Bandwidths = cloneSlice(s.Bandwidths)
	c.Times = cloneTimes(s.Times)
	c.Attributes = cloneSlice(s.Attributes)
	if s.Media != nil {
		c.Media = make([]Media, len(s.Media))
		for i := range s.Media {
			c.Media[i] = s.Media[i].clone()
		}
	}
	return &c
}

func (m *Media) clone() Media {
	c := *m
	c.Formats = cloneSlice(m.Formats)
	c.Connections = cloneSlice(m.Connections)
	c.Bandwidths = cloneSlice(m.Bandwidths)
	c.Attributes = cloneSlice(m.Attributes)
	return c
}

// Reoffer returns a copy of s, the previous description this agent sent in
// an offer or answer, to be modified and sent as a new offer (RFC 3264 §8).
// The o= line is kept except that the session version is one higher: §8
// says "the version in the origin field MUST increment by one from the
// previous SDP". To send the previous description unchanged, as in a
// session refresh, send s itself (or s.Clone()) instead: a description
// with an unchanged version is a no-op for the answerer (§8).
func (s *Session) Reoffer() *Session {
	c := s.Clone()
	c.Origin.SessionVersion++
	return c
}

// Hold puts every active stream of s (one with a non-zero port) on hold as
// RFC 3264 §8.4 describes: a sendrecv stream becomes sendonly and a
// recvonly stream becomes inactive, while sendonly and inactive streams stay
// as they are. s is normally the result of Reoffer. Hold leaves the
// connection address alone; the RFC 2543 form, c= 0.0.0.0, is no longer
// recommended (§8.4).
func (s *Session) Hold() {
	for i := range s.Media {
		m := &s.Media[i]
		if m.Port != 0 {
			m.SetDirection(s.MediaDirection(m).Hold())
		}
	}
}

// Resume takes every active stream of s off hold, undoing Hold: a sendonly
// stream becomes sendrecv and an inactive stream recvonly.
func (s *Session) Resume() {
	for i := range s.Media {
		m := &s.Media[i]
		if m.Port != 0 {
			m.SetDirection(s.MediaDirection(m).Resume())
		}
	}
}

// Hold returns the direction that puts a stream with direction d on hold
// (RFC 3264 §8.4), so that the peer stops sending: SendRecv becomes
// SendOnly, RecvOnly becomes Inactive, and SendOnly and Inactive are
// unchanged.
func (d Direction) Hold() Direction {
	return withoutRecv(d)
}

// Resume returns the direction that takes a stream with direction d off
// hold, undoing Hold: SendOnly becomes SendRecv, Inactive becomes RecvOnly,
// and SendRecv and RecvOnly are unchanged.
func (d Direction) Resume() Direction {
	return directionOf(sends(d), true)
}

// RemoveMedia disables stream i of s as RFC 3264 §8.2 describes: its port
// becomes 0, it keeps only its first format, and its attributes and
// media-level c=, b= and i= lines are dropped. The m= line itself stays, since
// "the number of m= lines in a stream never decreases" (§8). It panics if i
// is out of range.
func (s *Session) RemoveMedia(i int) {
	m := &s.Media[i]
	s.Media[i] = disabledMedia(m.Type, m.Proto, m.Formats)
}

// AddMedia adds the stream m to s (RFC 3264 §8.1), reusing the slot of the
// first stream whose port is 0 or, if there is none, appending it below the
// existing ones, and returns its index. NewMedia builds m from a
// MediaCapability. A slot disabled by the same offer should not be reused,
// since the answerer would take it for a modified stream; add such a stream
// in a later offer.
func (s *Session) AddMedia(m Media) int {
	for i := range s.Media {
		if s.Media[i].Port == 0 {
			s.Media[i] = m
			return i
		}
	}
	s.Media = append(s.Media, m)
	return len(s.Media) - 1
}
