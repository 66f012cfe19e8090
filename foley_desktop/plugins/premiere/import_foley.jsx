// Foley Desktop for Premiere Pro: import an exported FCP7 XML into the open project.
// UNTESTED (no Premiere here); see README.md beside this file. Call from a CEP panel with
// evalScript('importFoley("/path/to/shot_fcp7.xml")'), or run it from ExtendScript with the
// path filled in at the bottom.
function importFoley(xmlPath) {
    var f = new File(xmlPath);
    if (!f.exists) {
        return "no such file: " + xmlPath;
    }
    // suppressUI, target bin = the project root, not as numbered stills.
    var ok = app.project.importFiles([f.fsName], true, app.project.rootItem, false);
    return ok ? "imported " + f.name : "Premiere refused " + f.name;
}
