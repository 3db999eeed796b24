/// The front end as one call: read a `.tn` file and the files it uses, parse, elaborate the chosen network with
/// parameter overrides, and check it. This is what the command line, min-cut, planning and the backend start from.
module TnDsl.Compiler

open System
open System.IO
open System.Collections.Generic
open TnDsl.Syntax

/// Diagnostic kinds of loading files and choosing the network (they belong to the parse phase's range).
module Codes =
    /// A file (given, or named by `use`) that cannot be read.
    let cannotRead = Diagnostic.kind Level.Error "TN0007" "cannot read file"
    /// Two networks with one name in one file.
    let duplicateNetwork = Diagnostic.kind Level.Error "TN0008" "network declared twice"
    /// A file that uses itself, directly or through others.
    let useCycle = Diagnostic.kind Level.Error "TN0010" "files use each other in a cycle"
    /// A file larger than the limit, or not a regular file (a device, a pipe): refused before it is read.
    let refused = Diagnostic.kind Level.Error "TN0011" "file refused"

/// The largest `.tn` file the front end reads: 16 MiB.
let maxFileBytes = 16L * 1024L * 1024L

/// How deep `use` may nest (a file using one that uses another, …).
let maxUseDepth = 64

/// What the front end produced for one file.
type CompileResult =
    {
        /// The checked network, present when there were no errors.
        Network: FlatNetwork option
        /// The elaborated network with its source facts, present when elaboration got that far (even with errors).
        Elaborated: Elaborate.Elaborated option
        /// All diagnostics of all phases, in source order.
        Diagnostics: Diagnostic list
        /// The text of every file read, by name, for showing diagnostics.
        Sources: IReadOnlyDictionary<string, SourceText>
    }

    /// True when any diagnostic is an error.
    member r.HasErrors = Diagnostic.hasErrors r.Diagnostics

/// Where parameter overrides came from, so that a diagnostic about one names what its user wrote: `--set` on the
/// command line, the overrides a program passes to the API, or a job or checkpoint that carries them.
type OverrideOrigin =
    {
        /// The file of the range given to a diagnostic about an override (`command line`, `overrides`).
        File: string
        /// What stands before the `name=value` that begins such a diagnostic's message (`--set `, `override `).
        Prefix: string
        /// The hint for a parameter that has no value, `{0}` standing for its name (``pass one with `--set {0}=…` ``).
        HowToGive: string
    }

    /// The range of a diagnostic about an override.
    member o.Range = Range.ofFile o.File

    /// `--set name=value` on the `tn` command line: `command line(1,1): … --set L=x: …`.
    static member CommandLine : OverrideOrigin =
        { File = "command line"; Prefix = "--set "; HowToGive = "pass one with `--set {0}=…`" }

    /// The overrides a program passes to the API (`Layers.FromSpec(path, new { L = 3 })`, `Frontend.Check`): every
    /// such member calls its argument `overrides`, so that names the range: `overrides(1,1): … override L=x: …`.
    static member Api : OverrideOrigin =
        { File = "overrides"; Prefix = "override "; HowToGive = "give `{0}` a value in the overrides" }

/// Options for one compilation.
type CompileOptions =
    {
        /// Parameter values as their user wrote them: (name, value text).
        Overrides: (string * string) list
        /// Where the overrides came from, for naming them in diagnostics.
        OverrideOrigin: OverrideOrigin
        /// The network to check in a file that declares several; by default the last one.
        NetworkName: string option
        Limits: Elaborate.Options
    }

/// No overrides (given on the command line, were there any), the last network, default limits.
let defaultOptions =
    { Overrides = []
      OverrideOrigin = OverrideOrigin.CommandLine
      NetworkName = None
      Limits = Elaborate.defaultOptions }

/// The range used for diagnostics about command-line values.
let commandLine = OverrideOrigin.CommandLine.Range

/// The elaborator's diagnostics, made to name where the overrides came from. One about an override (a parameter the
/// network does not have, a value of the wrong type) begins with the `name=value` that gave it, after the origin's
/// prefix, as one the compiler gives itself (a value that does not parse). A parameter of `entry` with no value gets
/// the origin's way of giving one as its hint, or is dropped when an override meant to give it one (`meant`: its
/// value was refused, or its name misspelt): that mistake is already reported once.
let private naming (origin: OverrideOrigin) (overrides: (string * string) list) (entry: NetworkDecl) (meant: Set<string>) (d: Diagnostic) =
    if d.Kind = Elaboration.Codes.missingParameter then
        match entry.Params |> List.tryFind (fun p -> p.Range = d.Range) with
        | Some p when meant.Contains p.Name.Name -> None
        | Some p -> Some { d with Hints = [ origin.HowToGive.Replace("{0}", p.Name.Name) ] }
        | None -> Some d
    elif d.Range <> origin.Range then Some d
    else
        match overrides |> List.tryFind (fun (name, _) -> d.Message.Contains(sprintf "parameter `%s`" name)) with
        | Some (name, value) when d.Kind = Elaboration.Codes.overrideType || d.Kind = Elaboration.Codes.unknownParameter ->
            Some { d with Message = sprintf "%s%s=%s: %s" origin.Prefix name value d.Message }
        | _ -> Some d

/// Compiles a text, reading the files it uses through `read` (paths relative to the using file's folder), which
/// gives the text or the diagnostic kind and message of a refusal.
let compileWith (read: string -> Result<string, DiagnosticKind * string>) (file: string) (text: string) (options: CompileOptions) : CompileResult =
    let sources = Dictionary<string, SourceText>()
    let diags = ResizeArray<Diagnostic>()
    let networks = Dictionary<string, NetworkDecl>()
    let visited = HashSet<string>()
    // `chain` holds the files being loaded, innermost first, for naming a cycle.
    let rec load (file: string) (text: string) (isMain: bool) (chain: string list) : SourceFile =
        sources[file] <- SourceText(file, text)
        let ast, ds = Parse.parseText file text
        diags.AddRange ds
        let seenHere = HashSet<string>()
        for n in ast.Networks do
            if not (seenHere.Add n.Name.Name) then
                diags.Add(Diagnostic.make Codes.duplicateNetwork n.Name.Range (sprintf "a network named `%s` is already declared in this file" n.Name.Name))
            // The main file's networks win over used ones with the same name.
            elif isMain || not (networks.ContainsKey n.Name.Name) then
                networks[n.Name.Name] <- n
        for u in ast.Uses do
            let dir = Path.GetDirectoryName file
            let path = if Path.IsPathRooted u.Path then u.Path else Path.Combine((if String.IsNullOrEmpty dir then "." else dir), u.Path)
            let full = Path.GetFullPath path
            if List.contains full chain then
                let names = List.rev (full :: chain) |> List.skipWhile (fun f -> f <> full) |> List.map Path.GetFileName
                diags.Add(Diagnostic.make Codes.useCycle u.Range (sprintf "`use` makes a cycle: %s" (String.Join(" -> ", names))))
            elif chain.Length >= maxUseDepth then
                diags.Add(Diagnostic.make Codes.refused u.Range (sprintf "`use` nests more than %d files deep" maxUseDepth))
            elif visited.Add full then
                match read path with
                | Ok t -> load path t false (full :: chain) |> ignore
                | Result.Error (kind, why) -> diags.Add(Diagnostic.make kind u.Range (sprintf "cannot use `%s`: %s" u.Path why))
        ast
    let mainPath = Path.GetFullPath file
    visited.Add mainPath |> ignore
    let main = load file text true [ mainPath ]
    let entry =
        match options.NetworkName with
        | Some name ->
            match main.Networks |> List.tryFind (fun n -> n.Name.Name = name) with
            | Some n -> Some n
            | None ->
                let known = main.Networks |> List.map (fun n -> n.Name.Name)
                let hints =
                    match Elaborate.suggest name known with
                    | Some s -> [ sprintf "did you mean `%s`?" s ]
                    | None -> [ "this file declares " + (if known.IsEmpty then "no network" else String.Join(", ", known)) ]
                diags.Add({ Diagnostic.make Elaboration.Codes.unknownNetwork (Range.ofFile file) (sprintf "`%s` declares no network named `%s`" file name) with Hints = hints })
                None
        | None ->
            match List.tryLast main.Networks with
            | Some n -> Some n
            | None ->
                if not (Diagnostic.hasErrors diags) then
                    diags.Add(Diagnostic.make Elaboration.Codes.unknownNetwork (Range.ofFile file) (sprintf "`%s` declares no network" file))
                None
    let elaborated =
        entry
        |> Option.bind (fun net ->
            let origin = options.OverrideOrigin
            let parsed = options.Overrides |> List.map (fun (name, value) -> name, value, Elaborate.parseValue value)
            for name, value, v in parsed do
                match v with
                | Result.Error msg ->
                    diags.Add(Diagnostic.make Elaboration.Codes.overrideType origin.Range (sprintf "%s%s=%s: %s" origin.Prefix name value msg))
                | Result.Ok _ -> ()
            let given = parsed |> List.choose (fun (name, _, v) -> match v with Result.Ok v -> Some(name, origin.Range, v) | Result.Error _ -> None)
            // The parameters an override meant to give a value: one whose value was refused, or the one a misspelt
            // name suggests (`N` for `n`), which the unknown name's hint already names.
            let declared = net.Params |> List.map (fun p -> p.Name.Name)
            let meant =
                parsed
                |> List.choose (fun (name, _, v) ->
                    match v with
                    | Result.Error _ -> Some name
                    | Result.Ok _ when not (List.contains name declared) -> Suggest.closest name declared
                    | Result.Ok _ -> None)
                |> Set.ofList
            let lookup name =
                match networks.TryGetValue name with
                | true, n -> Some n
                | _ -> None
            let result, ds = Elaborate.elaborate options.Limits lookup net given
            diags.AddRange(ds |> List.choose (naming origin options.Overrides net meant))
            result)
    match elaborated with
    | Some e -> diags.AddRange(Check.check e)
    | None -> ()
    let all = List.ofSeq diags |> Diagnostic.collapse |> Diagnostic.sort
    { Network = (if Diagnostic.hasErrors all then None else elaborated |> Option.map (fun e -> e.Network))
      Elaborated = elaborated
      Diagnostics = all
      Sources = sources }

/// Compiles a text, reading the files it uses through `readFile` (None: it cannot be read).
let compileText (readFile: string -> string option) (file: string) (text: string) (options: CompileOptions) : CompileResult =
    let read path =
        match readFile path with
        | Some t -> Ok t
        | None -> Result.Error(Codes.cannotRead, sprintf "cannot read it (looked for %s)" (Path.GetFullPath path))
    compileWith read file text options

/// Runs a compilation on a thread with a large stack: nested declarations are parsed recursively (to the bracket
/// depth limit), and the parser's own frames must not overflow the default stack.
let compileOnBigStack (f: unit -> CompileResult) : CompileResult =
    let mutable result = Unchecked.defaultof<CompileResult>
    let mutable error: exn = null
    let t = Threading.Thread((fun () -> try result <- f () with e -> error <- e), 256 * 1024 * 1024)
    t.Start()
    t.Join()
    if not (isNull error) then raise (Exception("internal error in the compiler", error))
    result

/// `open(2)` without blocking: a FIFO with no writer would otherwise block `open` itself, before any check on
/// the stream could refuse it.
module private Posix =
    [<System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open", SetLastError = true)>]
    extern int openFlags(string path, int flags)

    /// O_RDONLY | O_NONBLOCK | O_CLOEXEC where the values are known; None elsewhere.
    let readNonBlocking =
        if OperatingSystem.IsLinux() then Some(0x800 ||| 0x80000)
        elif OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() then Some(0x4 ||| (if OperatingSystem.IsMacOS() then 0x1000000 else 0x100000))
        else None

/// Opens a file for reading without ever blocking in `open` (a FIFO with no writer opens at once, and is then
/// refused as not seekable).
let private openForReading (path: string) : FileStream =
    match Posix.readNonBlocking with
    | Some flags ->
        let fd = Posix.openFlags(path, flags)
        if fd < 0 then
            let errno = Runtime.InteropServices.Marshal.GetLastPInvokeError()
            raise (IOException(sprintf "cannot open it (%s)" (Runtime.InteropServices.Marshal.GetPInvokeErrorMessage errno)))
        new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(nativeint fd, true), FileAccess.Read, 1)
    | None -> new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan)

/// Why `path` is no file to read, in the words every verb uses whatever it reads (`.tn` text, a JSON network): a
/// folder, or nothing there; None where there is a file (or a device, a pipe).
let whyNoFile (path: string) : string option =
    let info = FileInfo path
    if Directory.Exists path then Some(sprintf "it is a folder, not a file (%s)" info.FullName)
    elif not info.Exists then Some(sprintf "no such file (looked for %s)" info.FullName)
    else None

/// The error for a file that cannot be read (`kind`: TN0007, or TN0011 for one refused), worded as every verb words
/// it: ``cannot read `grid.tn`: why``, placed at the file `shown`.
let cannotReadFile (kind: DiagnosticKind) (shown: string) (why: string) =
    Diagnostic.make kind (Range.ofFile shown) (sprintf "cannot read `%s`: %s" shown why)

/// Reads a `.tn` file from disk, refusing at once one larger than `maxBytes` or one that is not a regular file (a
/// device such as /dev/zero, a pipe or FIFO, even one with no writer): the file is opened without blocking and
/// read up to its stated size and one byte more, so nothing is read or waited for without end.
let readSource (maxBytes: int64) (path: string) : Result<string, DiagnosticKind * string> =
    try
        let info = FileInfo path
        match whyNoFile path with
        | Some why -> Result.Error(Codes.cannotRead, why)
        | None ->
        if info.Length > maxBytes then
            Result.Error(Codes.refused, sprintf "it is %d bytes, more than the limit of %d" info.Length maxBytes)
        else
            use stream = openForReading path
            if not stream.CanSeek then
                Result.Error(Codes.refused, "it is not a regular file")
            else
                let size = info.Length
                let buffer = Array.zeroCreate<byte> (int size + 1)
                let mutable total = 0
                let mutable last = -1
                while last <> 0 && total < buffer.Length do
                    last <- stream.Read(buffer, total, buffer.Length - total)
                    total <- total + last
                if int64 total > size then
                    Result.Error(Codes.refused, "it is not a regular file (it gives more bytes than its size)")
                else
                    use reader = new StreamReader(new MemoryStream(buffer, 0, total), Text.Encoding.UTF8, true)
                    Ok(reader.ReadToEnd())
    with e when (e :? IOException || e :? UnauthorizedAccessException || e :? ArgumentException || e :? NotSupportedException) ->
        Result.Error(Codes.cannotRead, e.Message)

/// Reads a file from disk within the default limits, None when it cannot be read or is refused.
let readDisk (path: string) =
    match readSource maxFileBytes path with
    | Ok t -> Some t
    | Result.Error _ -> None

/// Compiles `.tn` text held in memory; the files it uses are read from disk within the default limits.
let compileSource (file: string) (text: string) (options: CompileOptions) : CompileResult =
    compileOnBigStack (fun () -> compileWith (readSource maxFileBytes) file text options)

/// Compiles a file on disk under the name `shown`: every range and message names the file `shown`, and the files it
/// uses by paths relative to `shown`, while they are read from beside `path`. How a copy found elsewhere (an example
/// installed with the `tn` command) is shown as the path its user wrote.
let compileFileAs (shown: string) (path: string) (options: CompileOptions) : CompileResult =
    let read =
        if shown = path then readSource maxFileBytes
        else
            let shownDir, realDir = Path.GetDirectoryName shown, Path.GetDirectoryName path
            let shownDir = if String.IsNullOrEmpty shownDir then "." else shownDir
            fun (used: string) ->
                readSource maxFileBytes (if Path.IsPathRooted used then used else Path.Combine(realDir, Path.GetRelativePath(shownDir, used)))
    match readSource maxFileBytes path with
    | Ok text -> compileOnBigStack (fun () -> compileWith read shown text options)
    | Result.Error (kind, why) ->
        let d = cannotReadFile kind shown why
        { Network = None
          Elaborated = None
          Diagnostics = [ d ]
          Sources = Dictionary() }

/// Compiles a file on disk.
let compileFile (path: string) (options: CompileOptions) : CompileResult = compileFileAs path path options
