package soak

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strings"
)

// AuditCounter counts one user's requests in kube-apiserver's audit log
// (JSON lines) by verb, reading only what was appended since the last
// call.
type AuditCounter struct {
	Path, User string
	offset     int64
	partial    []byte
	// ByVerb and ByCode are the totals so far.
	ByVerb map[string]int64
	ByCode map[int]int64
}

// NewAuditCounter counts the requests of user (for example
// system:serviceaccount:kube-system:ascend-device-plugin) in path.
func NewAuditCounter(path, user string) *AuditCounter {
	return &AuditCounter{Path: path, User: user, ByVerb: map[string]int64{}, ByCode: map[int]int64{}}
}

// Read takes in the lines appended since the last call. A missing file
// counts nothing.
func (a *AuditCounter) Read() error {
	f, err := os.Open(a.Path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	a.offset += int64(len(data))
	a.Feed(data)
	return nil
}

// Feed counts the complete lines in data (a line cut at the end is kept
// for the next call).
func (a *AuditCounter) Feed(data []byte) {
	data = append(a.partial, data...)
	last := bytes.LastIndexByte(data, '\n')
	if last < 0 {
		a.partial = data
		return
	}
	a.partial = append([]byte{}, data[last+1:]...)
	for _, line := range bytes.Split(data[:last], []byte{'\n'}) {
		var ev struct {
			Verb string `json:"verb"`
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.User.Username != a.User {
			continue
		}
		a.ByVerb[ev.Verb]++
		a.ByCode[ev.ResponseStatus.Code]++
	}
}

// Verbs is the counts as "get=3 list=1 ...", verbs sorted.
func Verbs(counts map[string]int64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+itoa(counts[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
