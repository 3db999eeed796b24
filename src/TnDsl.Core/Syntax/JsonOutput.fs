namespace TnDsl

open System.Globalization
open System.Numerics
open System.Text.Json

/// The convention every `--json` output of `tn` follows (README, "JSON output"): snake_case keys, `null` for an
/// absent value, and counts (flops, sizes, elements, bytes, slices, …) exact: a JSON number up to 2^53, a decimal
/// string beyond, where JavaScript and the other readers that parse numbers as doubles would round them; a count that
/// can pass 2^53 has its logarithm beside it (`log10_flops`). Every writer of a count goes through here.
module JsonOutput =
    /// The largest integer every JSON reader takes exactly: 2^53 (a double's integer range).
    let maxExact = BigInteger.Pow(BigInteger 2, 53)

    /// A count as JSON text: its digits up to 2^53 in magnitude, a quoted decimal string beyond (for values
    /// written raw, inside a compact array).
    let countText (b: BigInteger) =
        let digits = b.ToString(CultureInfo.InvariantCulture)
        if BigInteger.Abs b <= maxExact then digits else "\"" + digits + "\""

    /// Writes a count as the next value (an array element, or after its property name): see `countText`.
    let writeCountValue (w: Utf8JsonWriter) (b: BigInteger) =
        if BigInteger.Abs b <= maxExact then w.WriteNumberValue(int64 b)
        else w.WriteStringValue(b.ToString(CultureInfo.InvariantCulture))

    /// Writes the member `name` holding a count: see `countText`.
    let writeCount (w: Utf8JsonWriter) (name: string) (b: BigInteger) =
        w.WritePropertyName name
        writeCountValue w b

    /// log10 of a count (0 for 0): the magnitude of a count that may be written as a string.
    let log10 (b: BigInteger) = BigInteger.Log10(BigInteger.Max(b, BigInteger.One))

    /// Writes `log10_<name>`, the companion of the count `name` (see `log10`).
    let writeLog10 (w: Utf8JsonWriter) (name: string) (b: BigInteger) = w.WriteNumber("log10_" + name, log10 b)
