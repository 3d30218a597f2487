package callback

import (
	"errors"
	"strconv"
	"strings"
)

// maxNumberDigits bounds the decimal expansion of a number written with
// an exponent, so that 1e999999999 cannot allocate a gigabyte.
const maxNumberDigits = 400

// formatNumber writes a JSON number literal in plain decimal, exactly:
// 1e3 is "1000", 1.50 is "1.5", 2.0 is "2", 12345678901234567890 stays as
// it is (no float64 rounding), 1.5e-3 is "0.0015".
func formatNumber(lit string) (string, error) {
	neg := strings.HasPrefix(lit, "-")
	lit = strings.TrimPrefix(lit, "-")
	mant, expPart, hasExp := strings.Cut(strings.ToLower(lit), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) || (hasExp && expPart == "") {
		return "", errors.New("is not a valid number")
	}
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expPart) // accepts a leading + or -
		if err != nil || e > maxNumberDigits || e < -maxNumberDigits {
			return "", errors.New("is too large or too small a number to write out")
		}
		exp = e
	}
	// digits × 10^(point-len(digits)): move the decimal point by exp.
	digits := intPart + frac
	point := len(intPart) + exp
	switch {
	case point <= 0:
		intPart, frac = "0", strings.Repeat("0", -point)+digits
	case point >= len(digits):
		intPart, frac = digits+strings.Repeat("0", point-len(digits)), ""
	default:
		intPart, frac = digits[:point], digits[point:]
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	frac = strings.TrimRight(frac, "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
