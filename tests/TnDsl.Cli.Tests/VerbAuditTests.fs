/// The verbs session 13's audit left out (`sample`, `train`, `worker`, `data`), given bad values as a new user would:
/// a usage error that names the option, before any work is done or any file is replaced; never a stack trace.
module TnDsl.Cli.Tests.VerbAuditTests

open System.IO
open Xunit
open TnDsl.Cli.Tests.CliTests

/// A usage error: exit 2, the message naming `expected`, and no stack trace.
let private assertUsage (expected: string) (code: int, _: string, err: string) =
    Assert.True((code = 2), sprintf "exit %d\nstderr: %s" code err)
    Assert.Contains(expected, err)
    Assert.DoesNotContain("   at ", err)

[<Fact>]
let ``tn sample -o naming the checkpoint it reads is refused, and the checkpoint is left as it was`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        let checkpoint = Path.Combine(dir, "checkpoint.bin")
        File.WriteAllBytes(checkpoint, [| 1uy; 2uy; 3uy |])
        for args in [ [ "sample"; dir; "-o"; checkpoint ]; [ "sample"; checkpoint; "--plot"; Path.Combine(dir, "history.csv") ] ] do
            tn args |> assertUsage "a file this command reads"
            Assert.Equal<byte array>([| 1uy; 2uy; 3uy |], File.ReadAllBytes checkpoint))

[<Fact>]
let ``tn sample with -o in a missing folder says so before reading the checkpoint`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        // Not a checkpoint at all: the output is checked first, so its problem is the one reported.
        let checkpoint = Path.Combine(dir, "checkpoint.bin")
        File.WriteAllBytes(checkpoint, [||])
        let code, _, err = tn [ "sample"; checkpoint; "-o"; Path.Combine(dir, "no-such-folder", "s.png") ]
        Assert.Equal(1, code)
        Assert.Contains("no-such-folder", err)
        Assert.Contains("does not exist", err))

[<Theory>]
[<InlineData("-n", "2000000000")>]
[<InlineData("--scale", "100000")>]
let ``tn sample refuses a grid too large for a PNG before sampling, not with an overflow`` (option: string, value: string) =
    inScratch "tndsl-verbs-" (fun dir ->
        let out = Path.Combine(dir, "bs")
        let code, _, err = tn [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--dmax"; "2"; "--loops"; "0"; "--out"; out; "--threads"; "1" ]
        Assert.True((code = 0), err)
        let png = Path.Combine(dir, "s.png")
        tn [ "sample"; out; option; value; "-o"; png ] |> assertUsage "pixels"
        Assert.False(File.Exists png))

[<Fact>]
let ``tn train --out naming a file is a usage error that says --out is a folder`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        let file = Path.Combine(dir, "notes.txt")
        File.WriteAllText(file, "keep")
        tn [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--loops"; "0"; "--out"; file ] |> assertUsage "--out"
        Assert.Equal("keep", File.ReadAllText file))

[<Theory>]
[<InlineData("--port")>]
[<InlineData("--gateway-port")>]
let ``tn worker refuses a port past 65535 as a usage error`` (option: string) =
    tn [ "worker"; "--cluster"; "127.0.0.1"; option; "70000" ] |> assertUsage "65535"

[<Fact>]
let ``tn worker --secret-file naming no file says which option and why`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        tn [ "worker"; "--cluster"; "127.0.0.1"; "--secret-file"; Path.Combine(dir, "nope") ] |> assertUsage "--secret-file")

[<Fact>]
let ``tn worker refuses a port another worker listens on, rather than share it`` () =
    // Orleans binds with SO_REUSEPORT: a second worker on a running worker's ports started and shared them, both
    // calling themselves primary (session 24's probe). The holder here binds as Orleans does.
    let free () =
        let l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0)
        l.Start()
        let port = (l.LocalEndpoint :?> System.Net.IPEndPoint).Port
        l.Stop()
        port
    let silo, gateway = free (), free ()
    use holder = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
    holder.SetRawSocketOption(1, 2, System.ReadOnlySpan<byte>(System.BitConverter.GetBytes 1)) // SOL_SOCKET, SO_REUSEADDR
    holder.SetRawSocketOption(1, 15, System.ReadOnlySpan<byte>(System.BitConverter.GetBytes 1)) // SOL_SOCKET, SO_REUSEPORT
    holder.Bind(System.Net.IPEndPoint(System.Net.IPAddress.Loopback, silo))
    holder.Listen()
    inScratch "tndsl-verbs-" (fun dir ->
        let secret = Path.Combine(dir, "cluster.secret")
        File.WriteAllText(secret, String.replicate 32 "s")
        let info = System.Diagnostics.ProcessStartInfo(Path.Combine(System.AppContext.BaseDirectory, "tn"))
        for a in [ "worker"; "--cluster"; $"127.0.0.1:{silo}"; "--port"; string silo; "--gateway-port"; string gateway; "--secret-file"; secret ] do
            info.ArgumentList.Add a
        info.RedirectStandardOutput <- true
        info.RedirectStandardError <- true
        use p = System.Diagnostics.Process.Start info
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEndAsync()
        if not (p.WaitForExit 60000) then
            p.Kill true
            p.WaitForExit()
            failwithf "the worker started on a port in use:\n%s" out.Result
        Assert.Equal(1, p.ExitCode)
        Assert.Contains($"port {silo} (--port) is in use", err.Result)
        Assert.Equal("", out.Result))

[<Fact>]
let ``tn data setup into a file is refused before anything is downloaded`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        let file = Path.Combine(dir, "data")
        File.WriteAllText(file, "")
        let code, out, err = tn [ "data"; "setup"; file ]
        assertUsage "is a file" (code, out, err)
        Assert.DoesNotContain("downloading", out))

[<Fact>]
let ``tn study --out naming a file is refused before the data are read or a model trained`` () =
    inScratch "tndsl-verbs-" (fun dir ->
        let file = Path.Combine(dir, "results")
        File.WriteAllText(file, "keep")
        // Without the data installed the study would stop at the data: the usage error must come first.
        tn [ "study"; "qcnn"; "--out"; file; "--no-progress" ] |> assertUsage "--out"
        tn [ "study"; "qcnn"; "--checkpoint"; dir; "--no-progress" ] |> assertUsage "--checkpoint"
        Assert.Equal("keep", File.ReadAllText file))

[<Fact>]
let ``tn cuts --profile on a network with no output legs says there is nothing to split, not to use --profile`` () =
    let code, out, _ = tn [ "cuts"; Path.Combine(TnDsl.Tests.Support.examplesDir, "grid.tn"); "--profile" ]
    Assert.Equal(0, code)
    Assert.Contains("no output legs", out)
    Assert.DoesNotContain("use --profile", out)

// Session 24's wording of tn plan (s24-words): counts of one in the singular, a refused plan reported as none,
// optimizer names in any case and one message for a wrong one, a stray ',' in --shapes shown where it stands,
// and --no-scaling refused where there is nothing to scale.

[<Fact>]
let ``a count of one reads in the singular in tn plan's report and tn contract's plan line`` () =
    // "2 (1 indices)", "1 elements" before.
    let code, out, err = tn [ "plan"; "--einsum"; "a,a->"; "--shapes"; "1,1"; "--optimizer"; "greedy" ]
    Assert.True((code = 0), err)
    Assert.Contains("Tensors:               2 (1 index)\n", out)
    Assert.Contains("Largest intermediate:  1 element\n", out)
    Assert.Contains("Total write:           1 element\n", out)
    Assert.DoesNotContain(" 1 elements", out)
    inScratch "tndsl-words-" (fun dir ->
        let file = Path.Combine(dir, "dot.tn")
        File.WriteAllText(file, "network dot(d: int = 1) {\n  index a: d\n  weight W: (a)\n  weight V: (a)\n  output ()\n}\n")
        let code, out, err = tn [ "contract"; file; "--threads"; "1"; "--optimizer"; "greedy" ]
        Assert.True((code = 0), err)
        Assert.Contains("largest intermediate 1 element\n", out)
        Assert.DoesNotContain(" 1 elements", out))

[<Fact>]
let ``a plan refused under --memory-limit reports no plan: no figures, and path null in JSON, as docs/planning.md says`` () =
    // The 8-element result alone is over 2 elements: the report showed the plan made without the limit, its path too.
    let args = [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--memory-limit"; "2"; "--optimizer"; "greedy" ]
    let code, out, err = tn args
    Assert.Equal(1, code)
    Assert.Contains("TN0301", err)
    Assert.Contains("  Plan:                  none found\n", out)
    Assert.DoesNotContain("FLOP count", out)
    let code, out, _ = tn (args @ [ "--json" ])
    Assert.Equal(1, code)
    use doc = System.Text.Json.JsonDocument.Parse out
    Assert.False(doc.RootElement.GetProperty("ok").GetBoolean())
    Assert.Equal(System.Text.Json.JsonValueKind.Null, doc.RootElement.GetProperty("path").ValueKind)
    let hasFlops, _ = doc.RootElement.TryGetProperty "flops"
    Assert.False(hasFlops)

[<Fact>]
let ``--optimizer takes a name in any case in every verb, as --objective does`` () =
    let grid = Path.Combine(TnDsl.Tests.Support.examplesDir, "grid.tn")
    let code, out, err = tn [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--optimizer"; "Greedy"; "--json" ]
    Assert.True((code = 0), err)
    Assert.Contains("\"optimizer\": \"greedy\"", out)
    for args in [ [ "contract"; grid; "--set"; "L=3,D=2"; "--threads"; "1" ]; [ "emit"; grid; "--cs"; "--set"; "L=3" ] ] do
        let code, _, err = tn (args @ [ "--optimizer"; "GREEDY" ])
        Assert.True((code = 0), sprintf "%A: %s" args err)

[<Fact>]
let ``an unknown --optimizer reads the same in tn plan as in the other verbs: a usage error listing the names`` () =
    // tn plan said "tn: error TN0300: unknown optimizer 'nope'; …", tn contract "tn contract: --optimizer nope: no such optimizer; …".
    for json in [ []; [ "--json" ] ] do
        let code, out, err = tn ([ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--optimizer"; "nope" ] @ json)
        assertUsage "tn plan: --optimizer nope: no such optimizer; valid optimizers: auto, optimal, greedy" (code, out, err)
        Assert.DoesNotContain("TN0300", err)
        Assert.Equal("", out)

[<Fact>]
let ``a trailing comma in --shapes is shown where it stands, not counted as a third operand`` () =
    // It said "2 operand(s) in the equation but 3 given", under the equation.
    let code, _, err = tn [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4," ]
    Assert.Equal(1, code)
    Assert.Contains("<shapes>(1,8): error TN0306: a trailing ',' gives 3 shapes for the 2 operands of the equation", err)
    Assert.DoesNotContain("operand(s)", err)
    let code, _, err = tn [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,,3x4" ]
    Assert.Equal(1, code)
    Assert.Contains("<shapes>(1,4): error TN0306: an empty shape (operand 2) between two ','", err)

[<Fact>]
let ``--no-scaling with --einsum or a JSON network is a usage error: scaling is in a .tn file's parameters`` () =
    tn [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--no-scaling" ]
    |> assertUsage "--no-scaling applies to a .tn file, not to --einsum"
