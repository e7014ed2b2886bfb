/*
 * The chart's CSV: GET readings?format=csv of each event on the chart, over
 * the range shown, in one file (one header line). Fetched with the key in
 * its header and handed to the browser as a download, so the key is never
 * in an address.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;

    D.downloadCsv = function (chart) {
        var events = [];
        chart.lines.forEach(function (l) {
            if (events.indexOf(l.event) < 0) {
                events.push(l.event);
            }
        });
        if (!events.length) {
            return Promise.resolve(null);
        }
        return Promise.all(events.map(function (event) {
            return D.api("readings?event=" + encodeURIComponent(event) + "&from=" + chart.from + "&to=" +
                         chart.to + "&format=csv");
        })).then(function (answers) {
            var failed = answers.filter(function (a) { return !a.ok; });
            if (failed.length) {
                D.$("chart-error").hidden = false;
                D.$("chart-error").textContent = "no CSV: " + D.refusal(failed[0]);
                return null;
            }
            var text = answers.map(function (a, i) {
                return i === 0 ? a.body : a.body.slice(a.body.indexOf("\n") + 1);
            }).join("");
            var link = D.el("a");
            link.href = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
            var name = events.length === 1 ? events[0].replace(/[^A-Za-z0-9._-]/g, "_") : "readings";
            link.download = name + ".csv";
            document.body.appendChild(link);
            link.click();
            link.remove();
            setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
            return text;
        });
    };
}(this));
