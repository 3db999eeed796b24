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

/// Options for one compilation.
type CompileOptions =
    {
        /// Parameter values as written on the command line: (name, value text).
        Overrides: (string * string) list
        /// The network to check in a file that declares several; by default the last one.
        NetworkName: string option
        Limits: Elaborate.Options
    }

/// No overrides, the last network, default limits.
let defaultOptions =
    { Overrides = []
      NetworkName = None
      Limits = Elaborate.defaultOptions }

/// The range used for diagnostics about command-line values.
let commandLine = Range.ofFile "command line"

/// Compiles a text, reading the files it uses through `readFile` (paths relative to the using file's folder).
let compileText (readFile: string -> string option) (file: string) (text: string) (options: CompileOptions) : CompileResult =
    let sources = Dictionary<string, SourceText>()
    let diags = ResizeArray<Diagnostic>()
    let networks = Dictionary<string, NetworkDecl>()
    let visited = HashSet<string>()
    let rec load (file: string) (text: string) (isMain: bool) : SourceFile =
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
            if visited.Add full then
                match readFile path with
                | Some t -> load path t false |> ignore
                | None -> diags.Add(Diagnostic.make Codes.cannotRead u.Range (sprintf "cannot read `%s` (looked for %s)" u.Path full))
        ast
    visited.Add(Path.GetFullPath file) |> ignore
    let main = load file text true
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
                diags.Add({ Diagnostic.make Elaborate.Codes.unknownNetwork (Range.ofFile file) (sprintf "`%s` declares no network named `%s`" file name) with Hints = hints })
                None
        | None ->
            match List.tryLast main.Networks with
            | Some n -> Some n
            | None ->
                if not (Diagnostic.hasErrors diags) then
                    diags.Add(Diagnostic.make Elaborate.Codes.unknownNetwork (Range.ofFile file) (sprintf "`%s` declares no network" file))
                None
    let elaborated =
        entry
        |> Option.bind (fun net ->
            let given =
                options.Overrides
                |> List.choose (fun (name, value) ->
                    match Elaborate.parseValue value with
                    | Result.Ok v -> Some(name, commandLine, v)
                    | Result.Error msg ->
                        diags.Add(Diagnostic.make Elaborate.Codes.overrideType commandLine (sprintf "--set %s=%s: %s" name value msg))
                        None)
            let lookup name =
                match networks.TryGetValue name with
                | true, n -> Some n
                | _ -> None
            let result, ds = Elaborate.elaborate options.Limits lookup net given
            diags.AddRange ds
            result)
    match elaborated with
    | Some e -> diags.AddRange(Check.check e)
    | None -> ()
    let all = Diagnostic.sort (List.ofSeq diags)
    { Network = (if Diagnostic.hasErrors all then None else elaborated |> Option.map (fun e -> e.Network))
      Elaborated = elaborated
      Diagnostics = all
      Sources = sources }

/// Runs a compilation on a thread with a large stack: expressions and nesting are processed recursively, and a
/// long (but legal) expression must not overflow the default stack.
let compileOnBigStack (f: unit -> CompileResult) : CompileResult =
    let mutable result = Unchecked.defaultof<CompileResult>
    let mutable error: exn = null
    let t = Threading.Thread((fun () -> try result <- f () with e -> error <- e), 256 * 1024 * 1024)
    t.Start()
    t.Join()
    if not (isNull error) then raise (Exception("internal error in the compiler", error))
    result

/// Reads a file from disk, None when it cannot be read.
let readDisk (path: string) =
    try
        Some(File.ReadAllText path)
    with _ ->
        None

/// Compiles a file on disk.
let compileFile (path: string) (options: CompileOptions) : CompileResult =
    match readDisk path with
    | Some text -> compileOnBigStack (fun () -> compileText readDisk path text options)
    | None ->
        let d = Diagnostic.make Codes.cannotRead (Range.ofFile path) (sprintf "cannot read `%s`" path)
        { Network = None
          Elaborated = None
          Diagnostics = [ d ]
          Sources = Dictionary() }
