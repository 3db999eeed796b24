/// Session 15's leftovers of the CLI audit: `--size` on a JSON network or with `--einsum` is checked as on a `.tn`
/// file (exit 2, a message per mistake naming what there is); `tn layer --batch` is checked like the other verbs'
/// `--batch`; outputs written with `-o` replace a good file only once they are whole, and devices are still written.
module TnDsl.Cli.Tests.LeftoverTests

open System.IO
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

let private mpsJson = "{\"tensors\": [{\"name\": \"A\", \"indices\": [\"i\", \"b\"]}, {\"name\": \"B\", \"indices\": [\"b\", \"j\"]}],\n \"sizes\": {\"i\": 2, \"b\": 3, \"j\": 4}, \"output\": [\"i\", \"j\"]}\n"

/// The lines of `err` that report a mistake (the usage lines that follow left out).
let private mistakes (err: string) =
    err.Split('\n') |> Array.filter (fun l -> l.StartsWith "tn plan: ")

let private assertExit (expected: int) (args: string list) (code: int, out: string, err: string) =
    Assert.True((code = expected), sprintf "%A: exit %d\nstdout: %s\nstderr: %s" args code out err)

[<Fact>]
let ``--size naming no index of a JSON network is a usage error, one message per mistake naming its indices`` () =
    inScratch "tndsl-left-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, mpsJson)
        let args = [ "plan"; file; "--size"; "nosuch=4"; "--size"; "bb=5" ]
        let code, out, err = tn args
        assertExit 2 args (code, out, err)
        Assert.Equal("", out)
        Assert.DoesNotContain("TN0310", err)
        let lines = mistakes err
        Assert.Equal(2, lines.Length)
        Assert.Contains($"--size nosuch=4: JSON network {file} has no index nosuch; its indices: i, b, j", lines[0])
        Assert.Contains("--size bb=5: JSON network", lines[1])
        Assert.Contains("did you mean b?", lines[1])
        // With --json the mistake is still a usage error on stderr, not a document.
        let code, out, err = tn (args @ [ "--json" ])
        assertExit 2 args (code, out, err)
        Assert.Equal("", out))

[<Fact>]
let ``--size on a JSON network with no index says there is nothing to size`` () =
    inScratch "tndsl-left-" (fun dir ->
        let file = Path.Combine(dir, "scalar.json")
        File.WriteAllText(file, "{\"tensors\": [{\"indices\": []}], \"sizes\": {}, \"output\": []}")
        let args = [ "plan"; file; "--size"; "a=3" ]
        let code, out, err = tn args
        assertExit 2 args (code, out, err)
        Assert.Contains("JSON network", err)
        Assert.Contains("has no index, so there is nothing to size; leave --size out", err))

[<Fact>]
let ``--size naming an index of a JSON network still sizes it`` () =
    inScratch "tndsl-left-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, mpsJson)
        let flops (extra: string list) =
            let code, out, err = tn ([ "plan"; file; "--json" ] @ extra)
            Assert.True((code = 0), err)
            use doc = System.Text.Json.JsonDocument.Parse out
            doc.RootElement.GetProperty("flops").GetInt64()
        // (i b)(b j): i j b multiply-adds; b from 3 to 30 multiplies the flops by 10.
        Assert.Equal(10L * flops [], flops [ "--size"; "b=30" ]))

[<Fact>]
let ``--size with --einsum is a usage error: the shapes give every size`` () =
    let args = [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--size"; "z=4" ]
    let code, out, err = tn args
    assertExit 2 args (code, out, err)
    Assert.Contains("--size applies to a .tn file or a JSON network, not to --einsum", err)
    Assert.Equal(1, mistakes err |> Array.length)

[<Fact>]
let ``tn layer --batch that is no positive integer is a usage error`` () =
    let spec = Path.Combine(examplesDir, "mpo-linear.tn")
    for batch in [ "0"; "-3"; "ten"; "1.5"; "99999999999999999999" ] do
        let args = [ "layer"; spec; "--batch"; batch ]
        let code, out, err = tn args
        assertExit 2 args (code, out, err)
        Assert.Contains($"--batch takes a positive integer, got '{batch}'", err)

[<Fact>]
let ``tn layer --batch for a spec with no dynamic index is a usage error`` () =
    inScratch "tndsl-left-" (fun dir ->
        let file = Path.Combine(dir, "a.tn")
        File.WriteAllText(file, "network a {\n  index i: 2\n  index j: 3\n  input x: (i)\n  weight A: (i, j)\n  output (j)\n}\n")
        let args = [ "layer"; file; "--batch"; "5" ]
        let code, out, err = tn args
        assertExit 2 args (code, out, err)
        Assert.Contains("--batch 5: network a has no dynamic index", err))

[<Fact>]
let ``tn layer with a huge batch is refused by the memory guard with figures before planning`` () =
    let clock = System.Diagnostics.Stopwatch.StartNew()
    let args = [ "layer"; Path.Combine(examplesDir, "layers", "peps.tn"); "--batch"; "1000000000000000" ]
    let code, out, err = tn args
    assertExit 1 args (code, out, err)
    // 10^15 x 10 outputs in float32: 40 PB, whatever the memory limit of the machine.
    Assert.Contains("peps_layer (float32, batch 1000000000000000): the output and the inputs alone need 35.53 PiB", err)
    Assert.Contains("over the memory limit", err)
    // Planning the batch for training took 10-30 s before the refusal; the check costs next to nothing.
    Assert.True(clock.Elapsed.TotalSeconds < 20.0, sprintf "%.1f s" clock.Elapsed.TotalSeconds)

/// Runs the built `tn` with its files limited to `kilobytes` (`ulimit -f`): a write past that kills it (SIGXFSZ),
/// as a full disk or a kill would stop it part-way. CoreCLR's write-xor-execute mapping needs a file larger than
/// that, so it is turned off.
let private tnLimited (kilobytes: int) (dir: string) (args: string list) =
    let tnPath = Path.Combine(System.AppContext.BaseDirectory, "tn")
    run "bash" ([ "-c"; sprintf "ulimit -f %d; exec \"$0\" \"$@\"" kilobytes; tnPath ] @ args) dir [ "DOTNET_EnableWriteXorExecute", "0" ]

[<Fact>]
let ``tn emit -o and tn export -o killed part-way leave the file that was there`` () =
    inScratch "tndsl-left-" (fun dir ->
        let mps = Path.Combine(examplesDir, "mps.tn")
        for args, name in [ [ "emit"; mps; "--cs" ], "Mps.cs"; [ "export"; mps; "--json" ], "mps.json" ] do
            let target = Path.Combine(dir, name)
            File.WriteAllText(target, "good\n")
            // Both outputs are over 1 KiB (the C# 17 KB, the JSON 1.6 KB).
            let code, _, err = tnLimited 1 dir (args @ [ "-o"; target ])
            Assert.True((code <> 0), sprintf "%A: exit 0\n%s" args err)
            Assert.Equal("good\n", File.ReadAllText target)
            // The next write replaces the file whole and removes what the killed one left.
            let code, _, err = tn (args @ [ "-o"; target ])
            Assert.True((code = 0), err)
            Assert.True(FileInfo(target).Length > 1024L)
            Assert.Equal<string array>([| name |], Directory.GetFiles dir |> Array.map Path.GetFileName)
            File.Delete target)

[<Fact>]
let ``-o /dev/full is one line naming the device and why, exit 1; -o /dev/null is written`` () =
    let mps = Path.Combine(examplesDir, "mps.tn")
    for args in [ [ "emit"; mps; "--cs" ]; [ "export"; mps; "--json" ] ] do
        assertRefused [ "cannot write /dev/full: No space left on device" ] (tn (args @ [ "-o"; "/dev/full" ]))
        let code, _, err = tn (args @ [ "-o"; "/dev/null" ])
        Assert.True((code = 0), err)
    Assert.True(File.Exists "/dev/null" && File.Exists "/dev/full")

[<Fact>]
let ``-o through a symbolic link replaces the file it names, keeping the link and the file's permissions`` () =
    inScratch "tndsl-left-" (fun dir ->
        let real = Path.Combine(dir, "real.json")
        let link = Path.Combine(dir, "link.json")
        File.WriteAllText(real, "old\n")
        File.SetUnixFileMode(real, UnixFileMode.UserRead ||| UnixFileMode.UserWrite)
        File.CreateSymbolicLink(link, real) |> ignore
        let code, _, err = tn [ "export"; Path.Combine(examplesDir, "mps.tn"); "--json"; "-o"; link ]
        Assert.True((code = 0), err)
        Assert.Equal(real, FileInfo(link).LinkTarget)
        Assert.Contains("\"tensors\"", File.ReadAllText real)
        Assert.Equal(UnixFileMode.UserRead ||| UnixFileMode.UserWrite, File.GetUnixFileMode real))

[<Fact>]
let ``-o to a FIFO writes into it instead of replacing it`` () =
    inScratch "tndsl-left-" (fun dir ->
        let fifo = Path.Combine(dir, "pipe")
        let code, _, err = run "mkfifo" [ fifo ] dir []
        Assert.True((code = 0), err)
        let reader = System.Threading.Tasks.Task.Run(fun () -> File.ReadAllText fifo)
        let code, _, err = tn [ "export"; Path.Combine(examplesDir, "mps.tn"); "--json"; "-o"; fifo ]
        Assert.True((code = 0), err)
        Assert.True(reader.Wait 60000, "the reader got nothing")
        Assert.Contains("\"tensors\"", reader.Result)
        // Still a FIFO: nothing was renamed over it.
        let code, out, _ = run "stat" [ "-c"; "%F"; fifo ] dir []
        Assert.True((code = 0))
        Assert.Equal("fifo", out.Trim()))
