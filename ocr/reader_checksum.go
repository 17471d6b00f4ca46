package ocr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The check characters of the documents read here: each catches any single
// misread character, which is why a read is never trusted without them.

// idWeights are the GB 11643-1999 weights of an ID number's first 17 digits
// (2^(17-i) mod 11).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckChars maps the weighted sum mod 11 to the check character.
const idCheckChars = "10X98765432"

// idCheckChar computes the check character of an ID number's 17 leading digits.
func idCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// validProvince reports whether the first two digits of a region code name a
// province-level division: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71 (Taiwan),
// 81 (Hong Kong), 82 (Macau) or 83 (Taiwan residents' residence permits).
func validProvince(code string) bool {
	if len(code) < 2 || !isDigit(rune(code[0])) || !isDigit(rune(code[1])) {
		return false
	}
	p := int(code[0]-'0')*10 + int(code[1]-'0')
	switch {
	case p >= 11 && p <= 15, p >= 21 && p <= 23, p >= 31 && p <= 37, p >= 41 && p <= 46,
		p >= 50 && p <= 54, p >= 61 && p <= 65, p == 71, p >= 81 && p <= 83:
		return true
	}
	return false
}

// ValidIDNumber reports whether s is a valid 18-character Chinese resident ID
// number (GB 11643-1999): 17 digits and a check character (a digit or X; a
// lower-case x is accepted), a known province, a real birth date between 1900
// and today, and a matching check character.
func ValidIDNumber(s string) bool {
	_, _, err := IDNumberInfo(s)
	return err == nil
}

// IDNumberInfo validates an ID number as ValidIDNumber does and returns the
// birth date (midnight UTC) and sex (the 17th digit is odd for a man) it
// encodes. The error says which check failed, without repeating the number.
func IDNumberInfo(s string) (birth time.Time, male bool, err error) {
	if len(s) != 18 {
		return time.Time{}, false, fmt.Errorf("ID number has %d characters, want 18", len([]rune(s)))
	}
	for i := 0; i < 17; i++ {
		if !isDigit(rune(s[i])) {
			return time.Time{}, false, fmt.Errorf("ID number character %d is %q, want a digit", i+1, s[i])
		}
	}
	check := s[17]
	if check == 'x' {
		check = 'X'
	}
	if !isDigit(rune(check)) && check != 'X' {
		return time.Time{}, false, fmt.Errorf("ID number check character is %q, want a digit or X", s[17])
	}
	if want := idCheckChar(s); check != want {
		return time.Time{}, false, fmt.Errorf("ID number checksum mismatch: check character %c, computed %c", check, want)
	}
	if !validProvince(s[:2]) {
		return time.Time{}, false, fmt.Errorf("ID number region %s is not a province code", s[:2])
	}
	birth, err = ParseChineseDate(s[6:14])
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ID number birth date: %w", err)
	}
	if err := plausiblePast(birth); err != nil {
		return time.Time{}, false, fmt.Errorf("ID number birth date: %w", err)
	}
	return birth, (s[16]-'0')%2 == 1, nil
}

// ValidLuhn reports whether digits (ASCII digits only, at least two) pass
// the Luhn check used by bank card numbers.
func ValidLuhn(digits string) bool {
	if len(digits) < 2 {
		return false
	}
	sum := 0
	for i := 0; i < len(digits); i++ {
		c := digits[len(digits)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// creditChars is the GB 32100-2015 alphabet: digits and the capitals other
// than I, O, S, V and Z, each worth its index.
const creditChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditWeights are 3^i mod 31 for the first 17 characters.
var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// creditCheckChar computes the check character of a credit code's first 17
// characters, or reports that one of them is outside the alphabet.
func creditCheckChar(first17 string) (byte, error) {
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(creditChars, first17[i])
		if v < 0 {
			return 0, fmt.Errorf("credit code character %d is %q, not in the GB 32100 alphabet", i+1, first17[i])
		}
		sum += v * creditWeights[i]
	}
	return creditChars[(31-sum%31)%31], nil
}

// ValidCreditCode reports whether s is a valid 18-character unified social
// credit code (统一社会信用代码, GB 32100-2015): upper-case characters of its
// alphabet, a six-digit region code in positions 3–8, and a matching check
// character.
func ValidCreditCode(s string) bool { return checkCreditCode(s) == nil }

// checkCreditCode says why s is not a valid credit code, or returns nil.
func checkCreditCode(s string) error {
	if len(s) != 18 {
		return fmt.Errorf("credit code has %d characters, want 18", len([]rune(s)))
	}
	want, err := creditCheckChar(s)
	if err != nil {
		return err
	}
	if strings.IndexByte(creditChars, s[17]) < 0 {
		return fmt.Errorf("credit code check character %q is not in the GB 32100 alphabet", s[17])
	}
	for i := 2; i < 8; i++ {
		if !isDigit(rune(s[i])) {
			return errors.New("credit code region (characters 3–8) is not all digits")
		}
	}
	if s[17] != want {
		return fmt.Errorf("credit code checksum mismatch: check character %c, computed %c", s[17], want)
	}
	return nil
}
