package transaction

import "testing"

// The hashed tables stay exact when hashes collide: values whose hash is
// taken go to the exact table, and every operation finds them there, also
// after the value holding the hash has left.
func TestHashedCollisions(t *testing.T) {
	var tab hashed[Key, *ClientTx]
	a, b := Key{Method: "OPTIONS", Branch: "z9hG4bKa"}, Key{Method: "OPTIONS", Branch: "z9hG4bKb"}
	txA, txB, txC := &ClientTx{}, &ClientTx{}, &ClientTx{}
	txA.key, txB.key, txC.key = a, b, b
	const h = 42 // both keys hash alike
	get := func(k Key) *ClientTx { return tab.get(h, k, clientKeyOf) }
	// put is lookup then add, as the Layer inserts.
	put := func(k Key, v *ClientTx) {
		t.Helper()
		old, taken := tab.lookup(h, k, clientKeyOf)
		if old != nil {
			t.Fatalf("lookup found %p before %v was put", old, k)
		}
		if want := tab.m.m[h] != nil; taken != want {
			t.Fatalf("lookup says hash taken %v, want %v", taken, want)
		}
		tab.add(h, k, v, taken)
	}
	put(a, txA)
	if get(b) != nil {
		t.Fatal("b found before it was put")
	}
	put(b, txB)
	if get(a) != txA || get(b) != txB || tab.len() != 2 {
		t.Fatalf("after two puts: a→%p b→%p len %d", get(a), get(b), tab.len())
	}
	tab.set(h, b, txC, clientKeyOf)
	if get(b) != txC || get(a) != txA {
		t.Fatal("set replaced the wrong value")
	}
	tab.del(h, a, clientKeyOf)
	if get(a) != nil || get(b) != txC || tab.len() != 1 {
		t.Fatalf("after deleting a: a→%p b→%p len %d", get(a), get(b), tab.len())
	}
	put(a, txA) // the hash is free again
	if get(a) != txA || get(b) != txC {
		t.Fatal("a put again is not found")
	}
	tab.del(h, b, clientKeyOf)
	tab.del(h, a, clientKeyOf)
	if get(a) != nil || get(b) != nil || tab.len() != 0 {
		t.Fatalf("not empty after deleting both: len %d", tab.len())
	}
	n := 0
	tab.all(func(*ClientTx) { n++ })
	if n != 0 {
		t.Fatalf("all visits %d values of an empty table", n)
	}
}
