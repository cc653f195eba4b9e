// Size arithmetic that refuses instead of wrapping. Every element and byte
// count derived from caller-supplied geometry goes through these, so a hostile
// stride or padding is an exception, never a short buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace adn {

// Largest element count of any tensor, packed operand or padded copy. Far
// above any real layer (2^48 floats = 1 PiB) and far below INT64_MAX, so the
// engine's index arithmetic (a count times a tile or chunk of at most 2^12)
// cannot overflow once validate() has passed.
constexpr int64_t kMaxElements = int64_t(1) << 48;

// a * b for non-negative a, b; throws std::invalid_argument naming `what`
// when the product overflows or exceeds kMaxElements.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  // Division instead of a compiler builtin: portable, and these run once per call.
  if (a < 0 || b < 0 || (a != 0 && b > kMaxElements / a))
    throw std::invalid_argument(std::string(what) + " is too large (more than 2^48 elements)");
  return a * b;
}

inline int64_t checked_mul(int64_t a, int64_t b, int64_t c, int64_t d, const char* what) {
  return checked_mul(checked_mul(checked_mul(a, b, what), c, what), d, what);
}

// Bytes of `count` items of `size` bytes (size_t, for allocators); throws
// std::length_error instead of wrapping.
inline size_t checked_bytes(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) throw std::length_error("addernet: byte count overflows");
  return count * size;
}

inline size_t checked_add(size_t a, size_t b) {
  if (a > SIZE_MAX - b) throw std::length_error("addernet: byte count overflows");
  return a + b;
}

}  // namespace adn
