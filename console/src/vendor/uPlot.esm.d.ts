// uPlot's own types for the copy of its ES module that the build puts beside the console's
// code (dist/console/vendor/uPlot.esm.js): the browser loads that file, tsc checks against these.
import uPlot from 'uplot';
export default uPlot;
