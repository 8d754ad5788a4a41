package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
)

// ErrNoKey means remote state was asked to store a secret without an age
// key to encrypt it with.
var ErrNoKey = errors.New("remote state needs an age key to store secrets")

// NoKeyHint says how to make a key.
const NoKeyHint = "create one with `cto state keygen --out ~/.cto/state.key` (or age-keygen) and pass it with --state-key FILE or CTO_STATE_KEY"

// recipientsKey is the bucket's list of who may read secrets, one age
// recipient a line, shared by every cluster under the prefix.
const recipientsKey = "recipients"

// Key is the age identity of this user: it decrypts secrets and is always
// one of the recipients they are encrypted to.
type Key struct {
	identity  age.Identity
	Recipient string
}

// LoadKey reads an age identity file as age-keygen writes it.
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--state-key %s does not exist; %s", path, NoKeyHint)
		}
		return nil, fmt.Errorf("--state-key %s: %v", path, err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) == 0 {
		// age's message quotes no key material, but keep it out anyway.
		return nil, fmt.Errorf("--state-key %s is not an age identity file (a line AGE-SECRET-KEY-1...); %s", path, NoKeyHint)
	}
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		return &Key{identity: id, Recipient: id.Recipient().String()}, nil
	case *age.HybridIdentity:
		return &Key{identity: id, Recipient: id.Recipient().String()}, nil
	}
	return nil, fmt.Errorf("--state-key %s: unsupported age identity type; use one age-keygen makes", path)
}

// Keygen writes a new age identity file (0600) at path, refusing to replace
// one, and returns its recipient.
func Keygen(path string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s exists; cto never replaces a key (secrets encrypted to it would be lost)", path)
		}
		return "", err
	}
	fmt.Fprintf(f, "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return id.Recipient().String(), f.Close()
}

// Recipients reads the bucket's recipients file: the recipients and the
// file's ETag ("" when there is none).
func Recipients(ctx context.Context, s *Store) ([]string, string, error) {
	obj, err := s.Get(ctx, recipientsKey)
	if errors.Is(err, ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var out []string
	for _, line := range strings.Split(string(obj.Data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, obj.ETag, nil
}

// AddRecipient adds an age recipient to the bucket's recipients file with a
// conditional write, so two people adding at once both land.
func AddRecipient(ctx context.Context, s *Store, recipient string) (added bool, err error) {
	if _, err := age.ParseRecipients(strings.NewReader(recipient)); err != nil {
		return false, fmt.Errorf("%q is not an age recipient (age1...)", recipient)
	}
	for range 5 {
		list, etag, err := Recipients(ctx, s)
		if err != nil {
			return false, err
		}
		for _, r := range list {
			if r == recipient {
				return false, nil
			}
		}
		list = append(list, recipient)
		body := "# age recipients that can read the secrets of clusters under this prefix; `cto state add-recipient` adds one\n" + strings.Join(list, "\n") + "\n"
		_, err = s.Put(ctx, recipientsKey, []byte(body), Cond{IfNoneMatch: etag == "", IfMatch: etag})
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrPrecondition) {
			return false, err
		}
	}
	return false, fmt.Errorf("the recipients file kept changing while adding %s; try again", recipient)
}

// sealer encrypts to the key's recipient and the bucket's recipients.
type sealer struct {
	key        *Key
	recipients []age.Recipient
}

func newSealer(ctx context.Context, s *Store, key *Key) (*sealer, error) {
	if key == nil {
		return &sealer{}, nil
	}
	list, _, err := Recipients(ctx, s)
	if err != nil {
		return nil, err
	}
	list = append(list, key.Recipient)
	seen := map[string]bool{}
	var rs []age.Recipient
	for _, r := range list {
		if seen[r] {
			continue
		}
		seen[r] = true
		parsed, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil {
			return nil, fmt.Errorf("the recipients file of %s holds %q, not an age recipient: fix it", s.Loc, r)
		}
		rs = append(rs, parsed...)
	}
	return &sealer{key: key, recipients: rs}, nil
}

func (z *sealer) seal(plain []byte) ([]byte, error) {
	if z.key == nil {
		return nil, fmt.Errorf("%w; %s", ErrNoKey, NoKeyHint)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, z.recipients...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %v", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (z *sealer) open(sealed []byte) ([]byte, error) {
	if z.key == nil {
		return nil, fmt.Errorf("%w; %s", ErrNoKey, NoKeyHint)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), z.key.identity)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt with key %s (not one of the recipients? ask a teammate to run `cto state add-recipient %s`)", z.key.Recipient, z.key.Recipient)
	}
	return io.ReadAll(r)
}
