/// Options that would do nothing are refused (session 14's late fixes): `--batch` for a network with no dynamic
/// index and `--size` naming no dynamic index are usage errors (exit 2) in every verb that takes them, naming what
/// there is; a q-CNN size the study cannot take is a usage error too.
module TnDsl.Cli.Tests.LateFixTests

open System.IO
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

/// Writes `text` to a scratch `.tn` file and runs `body` on its path.
let private withFile (text: string) (body: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("tndsl-late-").FullName
    try
        let path = Path.Combine(dir, "a.tn")
        File.WriteAllText(path, text)
        body path
    finally
        Directory.Delete(dir, true)

let private fixedNet = "network a {\n  index i: 2\n  index j: 3\n  weight A: (i, j)\n  weight B: (j)\n  output (i)\n}\n"
let private batchedNet = "network b {\n  index batch: dynamic(10)\n  index j: 3\n  input x: (batch, j)\n  weight B: (j)\n  output (batch)\n}\n"

let private assertUsage (args: string list) (expected: string list) (code: int, out: string, err: string) =
    Assert.True((code = 2), sprintf "%A: exit %d\nstdout: %s\nstderr: %s" args code out err)
    for e in expected do
        Assert.Contains(e, err)

[<Fact>]
let ``--batch for a network with no dynamic index is a usage error in tn emit and tn run`` () =
    withFile fixedNet (fun path ->
        for args in [ [ "emit"; path; "--cs"; "--batch"; "5" ]; [ "run"; path; "--batch"; "5" ] ] do
            let code, out, err = tn args
            assertUsage args [ "--batch 5: network a has no dynamic index" ] (code, out, err)
            Assert.DoesNotContain("auto-generated", out))

[<Fact>]
let ``--batch for a network with a dynamic index is still taken by tn emit`` () =
    withFile batchedNet (fun path ->
        let code, out, err = tn [ "emit"; path; "--cs"; "--batch"; "5" ]
        Assert.True((code = 0), err)
        Assert.Contains("auto-generated", out))

[<Fact>]
let ``--size naming no dynamic index is a usage error in tn export and tn plan, naming the ones there are`` () =
    withFile batchedNet (fun path ->
        for args in [ [ "export"; path; "--json"; "--size"; "nosuch=4" ]; [ "plan"; path; "--size"; "nosuch=4" ] ] do
            let code, out, err = tn args
            assertUsage args [ "--size nosuch=4: network b has no dynamic index nosuch"; "its dynamic indices: batch" ] (code, out, err)
            Assert.DoesNotContain("TN0310", err))
    withFile fixedNet (fun path ->
        let args = [ "export"; path; "--json"; "--size"; "batch=4" ]
        assertUsage args [ "--size batch=4: network a has no dynamic index, so there is nothing to size; leave --size out" ] (tn args))

[<Fact>]
let ``--size naming the dynamic index is still taken by tn export`` () =
    withFile batchedNet (fun path ->
        let code, out, err = tn [ "export"; path; "--json"; "--size"; "batch=7" ]
        Assert.True((code = 0), err)
        Assert.Contains("7", out))

[<Fact>]
let ``tn study qcnn --size that is no power of two is a usage error, its message unchanged`` () =
    for size in [ "100000"; "3" ] do
        let args = [ "study"; "qcnn"; "--size"; size ]
        assertUsage args [ sprintf "--size must be a power of two (2, 4, 8, 16), got %s" size ] (tn args)

[<Fact>]
let ``tn emit with a batch whose output alone is over the memory limit is refused before planning, naming the figures`` () =
    TnDsl.Torch.MemoryGuard.LimitOverride <- System.Nullable(1L <<< 30)
    try
        let clock = System.Diagnostics.Stopwatch.StartNew()
        let code, out, err = tn [ "emit"; Path.Combine(examplesDir, "born-machine.tn"); "--cs"; "--batch"; "1000000000000" ]
        Assert.True((code = 1), sprintf "exit %d\n%s" code err)
        Assert.Equal("", out)
        Assert.Contains("born_machine (float32, batch 1000000000000): the output and the inputs alone need 3.64 TiB", err)
        Assert.Contains("over the memory limit of 1 GiB", err)
        // Planning 1568 tensors took about a minute before the refusal; the check costs next to nothing.
        Assert.True(clock.Elapsed.TotalSeconds < 20.0, sprintf "%.1f s" clock.Elapsed.TotalSeconds)
    finally
        TnDsl.Torch.MemoryGuard.LimitOverride <- System.Nullable()
