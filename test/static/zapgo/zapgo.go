// zapgo - a Go program (standard library only) that zaps shared memory with
// syscall.Madvise(MADV_DONTNEED), issue 10.  Go makes raw system calls and
// never enters libc: zapshim's preload cannot see them; its syscall path
// must.  Built with CGO_ENABLED=0: a static binary.
//
// Cases, 4 MiB each, filled then zapped with one madvise over the range:
//
//	memfd shared        memfd_create (syscall.Syscall, not x/sys/unix)
//	anon shared         syscall.Mmap(-1, MAP_SHARED|MAP_ANONYMOUS)
//	hugetlbfs shared    an unlinked file in the 2 MiB hugetlbfs mount
//	anon private        (the kernel's own DONTNEED frees it: a baseline)
//
// Each must return success, be freed (st_blocks of the file, or of the
// file behind the mapping through /proc/self/map_files; mincore for base
// pages) and read back zero.  Huge pages or hugetlbfs missing: the case
// fails with CI=true, is skipped with the reason elsewhere.  Prints
// "N passed, M failed" last; exit 0 when nothing failed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	size         = 4 << 20
	page         = 4096
	hpage        = 2 << 20
	madvDontneed = 4
	mfdCloexec   = 1
	fill         = 0xAB
)

var passed, failed, skipped int

type tcase struct {
	name   string
	failed bool
	skip   string
}

func (c *tcase) check(ok bool, format string, args ...interface{}) bool {
	if !ok {
		c.failed = true
		fmt.Printf("  %s: %s\n", c.name, fmt.Sprintf(format, args...))
	}
	return ok
}

// need: a resource the case needs; missing fails with CI=true, skips
// elsewhere.
func (c *tcase) need(have bool, what string) bool {
	if have {
		return true
	}
	if os.Getenv("CI") == "true" {
		c.check(false, "needs %s (missing; CI=true makes this a failure)", what)
	} else {
		c.skip = "needs " + what
	}
	return false
}

func (c *tcase) end() {
	switch {
	case c.failed:
		fmt.Printf("FAIL %s\n", c.name)
		failed++
	case c.skip != "":
		fmt.Printf("SKIP %s: %s\n", c.name, c.skip)
		skipped++
	default:
		fmt.Printf("PASS %s\n", c.name)
		passed++
	}
}

// memfdCreate - memfd_create(2) through syscall.Syscall.
func memfdCreate(name string) (int, error) {
	nr := uintptr(319) // amd64
	if runtime.GOARCH == "arm64" {
		nr = 279
	}
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(nr, uintptr(unsafe.Pointer(p)), mfdCloexec, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// resident - base pages of b that mincore(2) reports resident.
func resident(b []byte) (int, error) {
	vec := make([]byte, (len(b)+page-1)/page)
	_, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])),
		uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return -1, e
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
}

// blocks - st_blocks of fd.
func blocks(fd int) int64 {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return -1
	}
	return st.Blocks
}

// mapBlocks - st_blocks of the file behind the mapping holding b, through
// /proc/self/map_files; -1 if unknown.
func mapBlocks(b []byte) int64 {
	addr := uint64(uintptr(unsafe.Pointer(&b[0])))
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rng := strings.Fields(sc.Text())[0]
		parts := strings.SplitN(rng, "-", 2)
		lo, _ := strconv.ParseUint(parts[0], 16, 64)
		hi, _ := strconv.ParseUint(parts[1], 16, 64)
		if addr >= lo && addr < hi {
			var st syscall.Stat_t
			if syscall.Stat("/proc/self/map_files/"+rng, &st) != nil {
				return -1
			}
			return st.Blocks
		}
	}
	return -1
}

func firstNonZero(b []byte) int {
	for i, v := range b {
		if v != 0 {
			return i
		}
	}
	return -1
}

// hugetlbfsDir - a 2 MiB hugetlbfs mount, or "".
func hugetlbfsDir() string {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[2] != "hugetlbfs" {
			continue
		}
		if strings.Contains(f[3], "pagesize=") && !strings.Contains(f[3], "pagesize=2M") {
			continue
		}
		return f[1]
	}
	return ""
}

func freeHugepages() int {
	data, err := os.ReadFile("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1
	}
	return n
}

// zap - fill b, madvise(MADV_DONTNEED), check it is freed and reads zero.
// fd is the backing file (or -1: ask map_files); huge skips mincore.
func zap(c *tcase, b []byte, fd int, huge bool, shared bool) {
	for i := range b {
		b[i] = fill
	}
	fileBlocks := func() int64 {
		if fd >= 0 {
			return blocks(fd)
		}
		return mapBlocks(b)
	}
	if shared {
		c.check(fileBlocks() == size/512, "after the fill the file holds %d blocks, want %d",
			fileBlocks(), size/512)
	}
	if err := syscall.Madvise(b, madvDontneed); err != nil {
		c.check(false, "madvise(MADV_DONTNEED): %v", err)
	}
	if shared {
		bl := fileBlocks()
		c.check(bl == 0, "the backing file still holds %d blocks", bl)
	}
	if !huge {
		n, err := resident(b)
		c.check(err == nil && n == 0, "mincore: %d pages resident (%v)", n, err)
	}
	if i := firstNonZero(b); i >= 0 {
		c.check(false, "reads back 0x%02x at offset %d, want 0", b[i], i)
	}
}

func main() {
	fmt.Printf("zapgo: pid %d, %s, syscall.Madvise\n", os.Getpid(), runtime.Version())
	rw := syscall.PROT_READ | syscall.PROT_WRITE

	c := &tcase{name: "memfd-shared/MADV_DONTNEED"}
	if fd, err := memfdCreate("zapgo"); c.check(err == nil, "memfd_create: %v", err) {
		if c.check(syscall.Ftruncate(fd, size) == nil, "ftruncate") {
			b, err := syscall.Mmap(fd, 0, size, rw, syscall.MAP_SHARED)
			if c.check(err == nil, "mmap: %v", err) {
				zap(c, b, fd, false, true)
				syscall.Munmap(b)
			}
		}
		syscall.Close(fd)
	}
	c.end()

	c = &tcase{name: "anon-shared/MADV_DONTNEED"}
	if b, err := syscall.Mmap(-1, 0, size, rw, syscall.MAP_SHARED|syscall.MAP_ANONYMOUS); c.check(err == nil, "mmap: %v", err) {
		zap(c, b, -1, false, true)
		syscall.Munmap(b)
	}
	c.end()

	c = &tcase{name: "hugetlbfs-unlinked-shared/MADV_DONTNEED"}
	dir := hugetlbfsDir()
	if c.need(dir != "", "a 2 MiB hugetlbfs mount") &&
		c.need(freeHugepages() >= size/hpage, "2 free 2 MiB huge pages") {
		path := fmt.Sprintf("%s/zapgo.%d", dir, os.Getpid())
		fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0600)
		if c.check(err == nil, "open %s: %v", path, err) {
			syscall.Unlink(path)
			if c.check(syscall.Ftruncate(fd, size) == nil, "ftruncate") {
				b, err := syscall.Mmap(fd, 0, size, rw, syscall.MAP_SHARED)
				if c.check(err == nil, "mmap: %v", err) {
					zap(c, b, fd, true, true)
					syscall.Munmap(b)
				}
			}
			syscall.Close(fd)
		}
	}
	c.end()

	c = &tcase{name: "anon-private/MADV_DONTNEED"}
	if b, err := syscall.Mmap(-1, 0, size, rw, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS); c.check(err == nil, "mmap: %v", err) {
		zap(c, b, -1, false, false)
		syscall.Munmap(b)
	}
	c.end()

	if skipped > 0 {
		fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	} else {
		fmt.Printf("%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
