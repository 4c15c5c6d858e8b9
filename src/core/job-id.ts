// The rule lives with the contracts, where the workflow sandbox can use it too.
export { JOB_ID_PATTERN, isValidJobId, jobIdProblem } from '../contracts/names';
